"""The page's numbers: the scheduler's recent ``boom_flow`` events reduced to columns.

Pure functions of the events (``pipeline.events`` says what one holds) and of the
workers' memory, so they are tested without a cluster. Every result is a dict of
equal-length lists, the shape a Bokeh ``ColumnDataSource`` takes.

The window is the last ``span_s`` seconds, ending now; when the newest event is older
than that (the run ended a while ago), it ends at the newest event instead, so the page
shows the last run rather than nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Columns = dict[str, list[Any]]
SPAN_S = 300.0
BIN_S = 2.0
#: Rates are averaged over this trailing span: batches finish every few seconds, so
#: per-bin counts alone would draw a comb, not a rate.
SMOOTH_S = 10.0


@dataclass(frozen=True)
class Window:
    """The events of the window, oldest first, and its bounds (seconds)."""

    events: tuple[Mapping[str, Any], ...]
    start_s: float
    end_s: float
    bin_s: float

    @classmethod
    def of(cls, events: Iterable[Mapping[str, Any]], now_s: float, span_s: float = SPAN_S,
           bin_s: float = BIN_S) -> Window:
        ordered = sorted((e for e in events if "at_ms" in e), key=lambda e: e["at_ms"])
        end_s = now_s
        if ordered and ordered[-1]["at_ms"] / 1000 < now_s - span_s:
            end_s = ordered[-1]["at_ms"] / 1000 + bin_s
        start_s = end_s - span_s
        kept = tuple(e for e in ordered if start_s <= e["at_ms"] / 1000 <= end_s)
        return cls(kept, start_s, end_s, bin_s)

    def bins(self) -> np.ndarray:
        """Left edges (seconds) of the window's bins."""
        return np.arange(self.start_s, self.end_s, self.bin_s)

    def bin_of(self, event: Mapping[str, Any]) -> int:
        return min(int((event["at_ms"] / 1000 - self.start_s) // self.bin_s),
                   len(self.bins()) - 1)


def rates(window: Window, smooth_s: float = SMOOTH_S) -> Columns:
    """Alerts/s in (decoded), stored (new in the archive) and rejected at the end of
    each bin, averaged over the trailing ``smooth_s``."""
    edges = window.bins()
    sums = {name: np.zeros(len(edges)) for name in ("alerts", "stored", "rejected")}
    for event in window.events:
        for name, values in sums.items():
            values[window.bin_of(event)] += event.get(name, 0)
    width = max(1, round(smooth_s / window.bin_s))
    trailing = np.ones(width) / (width * window.bin_s)
    return {"time": [float(t * 1000) for t in edges],
            **{("in" if name == "alerts" else name):
               np.convolve(values, trailing)[:len(values)].round(2).tolist()
               for name, values in sums.items()}}


def stage_times(window: Window) -> Columns:
    """Per stage, worker milliseconds per alert over the window (in pipeline order)."""
    seconds: dict[str, float] = defaultdict(float)
    alerts = 0
    for event in window.events:
        alerts += event.get("alerts", 0)
        for stage, spent in event.get("seconds", {}).items():
            seconds[stage] += spent
    per_alert = 1000 / alerts if alerts else 0.0
    return {"stage": list(seconds),
            "ms_per_alert": [round(s * per_alert, 3) for s in seconds.values()],
            "seconds": [round(s, 3) for s in seconds.values()]}


def latency(window: Window) -> Columns:
    """p50/p95/p99 of the alerts' latency (ms, arrival to filter result) per bin;
    bins without alerts are left out (a percentile of nothing is not zero)."""
    pooled: dict[int, list[float]] = defaultdict(list)
    for event in window.events:
        pooled[window.bin_of(event)].extend(event.get("latency_ms", ()))
    edges = window.bins()
    columns: Columns = {"time": [], "p50": [], "p95": [], "p99": []}
    for index in sorted(pooled):
        if not pooled[index]:
            continue
        p50, p95, p99 = np.percentile(pooled[index], [50, 95, 99])
        columns["time"].append(float(edges[index] * 1000))
        for name, value in (("p50", p50), ("p95", p95), ("p99", p99)):
            columns[name].append(round(float(value), 1))
    return columns


def kafka_lag(window: Window) -> Columns:
    """The newest per-partition lag sample in the window (empty for file replays, and
    before the consumer group handed out partitions)."""
    for event in reversed(window.events):
        if event.get("kafka_lag"):
            lag = event["kafka_lag"]
            return {"partition": list(lag), "lag": [int(v) for v in lag.values()]}
    return {"partition": [], "lag": []}


def filter_passes(window: Window) -> Columns:
    """Alerts that passed each filter over the window, most passes first."""
    passes: dict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    for event in window.events:
        names.update(event.get("filter_names", {}))
        for filter_id, count in event.get("filter_passes", {}).items():
            passes[filter_id] += count
    ranked = sorted(passes, key=lambda f: (-passes[f], f))
    return {"filter": [f"{names.get(f, f)} [{f[-6:]}]" for f in ranked],
            "passes": [passes[f] for f in ranked]}


def worker_memory(workers: Sequence[tuple[str, int, int | None]]) -> Columns:
    """Per worker ``(name, process memory bytes, limit bytes or None)``, in MiB."""
    return {"worker": [name for name, _, _ in workers],
            "memory_mb": [round(used / 2**20, 1) for _, used, _ in workers],
            "limit_mb": [round((limit or 0) / 2**20, 1) for _, _, limit in workers]}


def summary(window: Window) -> dict[str, Any]:
    """Totals of the window and its overall latency percentiles."""
    totals = {name: sum(e.get(name, 0) for e in window.events)
              for name in ("packets", "alerts", "stored", "duplicates", "rejected")}
    sample = [v for e in window.events for v in e.get("latency_ms", ())]
    quantiles = (np.percentile(sample, [50, 95, 99]).round(1).tolist() if sample
                 else [None] * 3)
    span = (window.events[-1]["at_ms"] - window.events[0]["at_ms"]) / 1000 if window.events \
        else 0.0
    return {
        **totals, "batches": len(window.events),
        "failed_batches": sum(bool(e.get("failed")) for e in window.events),
        "runs": sorted({e.get("run", "") for e in window.events}),
        "surveys": sorted({e.get("survey", "") for e in window.events}),
        "alerts_per_s": round(totals["alerts"] / span, 1) if span > 0 else None,
        "latency_p50_ms": quantiles[0], "latency_p95_ms": quantiles[1],
        "latency_p99_ms": quantiles[2],
        "window_s": round(window.end_s - window.start_s, 1),
    }


#: The page's data sources: name -> columns of a window (memory is read separately).
SOURCES = {
    "rates": rates, "stages": stage_times, "latency": latency,
    "lag": kafka_lag, "filters": filter_passes,
}
