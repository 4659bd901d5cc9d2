"""Measuring a run from the outside: batch completions, latency, worker memory.

Nothing here touches the pipeline's code path: the recorder is the run's
``on_outcome`` hook (called on the driver when a batch is stored and committed), and
the memory sampler reads the worker processes' RSS with psutil from a thread, so the
measured run is the same code ``boom-flow run`` executes.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import psutil

from boom_flow.pipeline.worker import BatchOutcome


def now_ms() -> float:
    """Wall-clock milliseconds, the clock Kafka's CreateTime timestamps use."""
    return time.time() * 1000.0


def percentiles(values: list[float] | np.ndarray) -> dict[str, float | int]:
    """p50/p95/p99 (and count, mean, max) of a latency sample, in milliseconds."""
    sample = np.asarray(values, dtype=float)
    if sample.size == 0:
        return {"count": 0}
    p50, p95, p99 = np.percentile(sample, [50, 95, 99])
    return {"count": int(sample.size), "p50_ms": round(float(p50), 1),
            "p95_ms": round(float(p95), 1), "p99_ms": round(float(p99), 1),
            "mean_ms": round(float(sample.mean()), 1), "max_ms": round(float(sample.max()), 1)}


@dataclass
class OutcomeRecorder:
    """Every batch outcome with the wall time it was acknowledged on the driver."""

    #: Stop the run once this many packets are acknowledged (None: never).
    expected_packets: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    completions: list[tuple[float, BatchOutcome]] = field(default_factory=list)
    started_ms: float = field(default_factory=now_ms)
    first_done: threading.Event = field(default_factory=threading.Event)
    #: Told how many packets each batch brought (a progress meter).
    advance: Callable[[int], None] | None = None

    def __call__(self, outcome: BatchOutcome) -> None:
        self.completions.append((now_ms(), outcome))
        if self.advance is not None:
            self.advance(outcome.packets)
        self.first_done.set()
        if self.expected_packets is not None and self.packets >= self.expected_packets:
            self.stop.set()

    @property
    def packets(self) -> int:
        return sum(o.packets for _, o in self.completions)

    @property
    def alerts(self) -> int:
        return sum(o.alerts for _, o in self.completions)

    def stage_seconds(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for _, outcome in self.completions:
            for stage, seconds in outcome.seconds.items():
                totals[stage] += seconds
        return dict(totals)

    def throughput(self, workers: int = 1) -> dict[str, Any]:
        """Rates over the whole run (from the run's start: consumer group join and the
        workers' cold start included) and in steady state: from the completion of the
        first batch of each worker to the last completion, counting only the batches
        completed in between."""
        if not self.completions:
            return {"alerts": 0, "alerts_per_s": 0.0}
        last_ms = self.completions[-1][0]
        wall_s = (last_ms - self.started_ms) / 1000
        result: dict[str, Any] = {
            "alerts": self.alerts,
            "packets": self.packets,
            "batches": len(self.completions),
            "wall_s": round(wall_s, 2),
            "alerts_per_s": round(self.alerts / wall_s, 2) if wall_s > 0 else 0.0,
            "steady_s": None,
            "steady_alerts_per_s": None,
        }
        warm = max(workers, 1)
        if len(self.completions) > warm:
            since_ms = self.completions[warm - 1][0]
            steady_s = (last_ms - since_ms) / 1000
            steady_alerts = sum(o.alerts for _, o in self.completions[warm:])
            if steady_s > 0:
                result["steady_s"] = round(steady_s, 2)
                result["steady_alerts_per_s"] = round(steady_alerts / steady_s, 2)
        return result

    def steady_window(self, workers: int = 1) -> tuple[float, float, int] | None:
        """``(since_ms, until_ms, alerts)`` of the steady state ``throughput`` uses:
        from the first completion of each worker to the last completion."""
        warm = max(workers, 1)
        if len(self.completions) <= warm:
            return None
        return (self.completions[warm - 1][0], self.completions[-1][0],
                sum(o.alerts for _, o in self.completions[warm:]))

    def completion_latencies(self) -> list[tuple[float, int]]:
        """``(latency, Kafka timestamp)``, ms, from each alert's Kafka timestamp to the
        acknowledgement of its batch (stored, published and committed)."""
        return [(done - ts, ts) for done, outcome in self.completions
                for ts in outcome.timestamps_ms]


def stage_table(seconds: dict[str, float], alerts: int) -> list[dict[str, Any]]:
    """Per stage: total worker seconds, share of the total, ms per alert, alerts/s
    one worker core would sustain doing only that stage."""
    total = sum(seconds.values()) or 1.0
    rows = []
    for stage, spent in seconds.items():
        rows.append({
            "stage": stage,
            "seconds": round(spent, 3),
            "share": round(spent / total, 4),
            "ms_per_alert": round(spent / alerts * 1000, 3) if alerts else None,
            "alerts_per_core_s": round(alerts / spent, 1) if spent > 0 else None,
        })
    return rows


class PeriodicSampler:
    """Calls ``sample`` on entry, every ``interval_s`` from a thread, and on exit. The
    thread's own CPU time is kept (``own_seconds``): a sampler running in the driver
    is the benchmark's work, not the driver's."""

    def __init__(self, interval_s: float, name: str) -> None:
        self.interval_s = interval_s
        self.own_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _loop(self) -> None:
        started = time.thread_time()
        while not self._stop.wait(self.interval_s):
            self.sample()
        self.own_seconds += time.thread_time() - started


class MemorySampler(PeriodicSampler):
    """Samples the RSS of a set of processes (the Dask workers) every ``interval_s``."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.25) -> None:
        super().__init__(interval_s, "rss-sampler")
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.samples: dict[str, list[tuple[float, int]]] = {name: [] for name in pids}

    def sample(self) -> None:
        at = time.monotonic()
        for name, process in self._processes.items():
            try:
                self.samples[name].append((at, process.memory_info().rss))
            except psutil.Error:
                continue

    def summary(self) -> dict[str, Any]:
        """Per worker: RSS at start, peak, at the end, and growth over the run's second
        half (a leak grows steadily; a warm-up plateau does not)."""
        workers = {}
        for name, series in self.samples.items():
            if not series:
                continue
            rss = np.array([value for _, value in series], dtype=float) / 2**20
            half = rss[len(rss) // 2:]
            tail = max(1, len(rss) // 10)
            workers[name] = {
                "start_mb": round(float(rss[0]), 1),
                "peak_mb": round(float(rss.max()), 1),
                "end_mb": round(float(rss[-1]), 1),
                "growth_mb": round(float(np.median(rss[-tail:]) - np.median(rss[:tail])), 1),
                "second_half_growth_mb": round(float(half[-1] - half[0]), 1)
                if half.size else 0.0,
                "samples": int(rss.size),
            }
        peak = max((w["peak_mb"] for w in workers.values()), default=0.0)
        return {"workers": workers, "peak_mb": peak,
                "sample_interval_s": self.interval_s}
