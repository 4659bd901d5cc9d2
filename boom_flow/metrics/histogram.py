"""A Prometheus histogram fed a whole array at a time.

prometheus_client's ``Histogram.observe`` takes one value per call; a batch carries
hundreds of alert latencies, so this collector bins them with one ``searchsorted``
and exposes the standard ``_bucket``/``_sum``/``_count`` series.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector


class BulkHistogram(Collector):
    """A labelled histogram whose ``observe_many`` bins an array of values."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = np.asarray(sorted(buckets), dtype=float)
        self._lock = threading.Lock()
        #: label values -> (per-bucket counts incl. +Inf, sum)
        self._series: dict[tuple[str, ...], tuple[np.ndarray, float]] = {}

    def observe_many(self, values: Iterable[float] | np.ndarray, **labels: str) -> None:
        array = np.asarray(values if isinstance(values, np.ndarray) else list(values),
                           dtype=float)
        if array.size == 0:
            return
        key = tuple(str(labels[name]) for name in self.labelnames)
        # side="left": a value equal to a bound belongs to that bucket (le = "less or equal").
        counts = np.bincount(np.searchsorted(self.bounds, array, side="left"),
                             minlength=len(self.bounds) + 1)
        with self._lock:
            previous, total = self._series.get(key, (np.zeros(len(self.bounds) + 1,
                                                              dtype=np.int64), 0.0))
            self._series[key] = (previous + counts, total + float(array.sum()))

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self._lock:
            series = dict(self._series)
        for key, (counts, total) in series.items():
            cumulative = np.cumsum(counts)
            buckets = [(_bound(b), int(c)) for b, c in zip(self.bounds, cumulative, strict=False)]
            buckets.append(("+Inf", int(cumulative[-1])))
            family.add_metric(list(key), buckets, total)
        yield family


def _bound(value: float) -> str:
    return repr(float(value))
