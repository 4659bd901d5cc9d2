"""The ingest process's metrics, fed on the driver from each batch's outcome.

``PipelineMetrics.observe`` is the ``on_outcome`` hook of ``run_pipeline``;
``polled`` and ``lag`` are the source's hooks. Nothing here runs on a worker: a
worker reports what it did in its ``BatchOutcome`` and the driver counts it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    platform_collector,
    process_collector,
)

from boom_flow.metrics import names
from boom_flow.metrics.histogram import BulkHistogram


class Outcome(Protocol):
    """What the metrics read from ``boom_flow.pipeline.worker.BatchOutcome``."""

    packets: int
    stored: int
    duplicates: int
    rejected: int
    seconds: dict[str, float]
    timestamps_ms: list[int]
    rejected_reasons: dict[str, int]
    filter_passes: dict[str, int]
    counts: dict[str, int]
    error: str | None


def _counter(spec: names.MetricName, registry: CollectorRegistry) -> Counter:
    # prometheus_client appends _total itself.
    return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)


def new_registry() -> CollectorRegistry:
    """A registry with the process, platform and garbage-collector collectors."""
    registry = CollectorRegistry()
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    return registry


class PipelineMetrics:
    """Counters, histograms and gauges of one ingest process (one survey)."""

    def __init__(self, survey: str, registry: CollectorRegistry | None = None,
                 clock: Any = time.time) -> None:
        self.survey = survey
        self.registry = registry if registry is not None else new_registry()
        self._clock = clock
        self.started_at = clock()
        self._lock = threading.Lock()
        self.last_poll_at: float | None = None
        self.last_batch_at: float | None = None
        self.batches = 0
        r = self.registry
        self.consumed = _counter(names.ALERTS_CONSUMED, r)
        self.stored = _counter(names.ALERTS_STORED, r)
        self.existing = _counter(names.ALERTS_EXISTING, r)
        self.rejected = _counter(names.ALERTS_REJECTED, r)
        self.batches_total = _counter(names.BATCHES, r)
        self.filter_passes = _counter(names.FILTER_PASSES, r)
        self.aux_rereads = _counter(names.AUX_REREADS, r)
        self.stage_seconds = Histogram(names.STAGE_SECONDS.name, names.STAGE_SECONDS.help,
                                       names.STAGE_SECONDS.labels, registry=r,
                                       buckets=names.DURATION_BUCKETS)
        self.batch_seconds = Histogram(names.BATCH_SECONDS.name, names.BATCH_SECONDS.help,
                                       names.BATCH_SECONDS.labels, registry=r,
                                       buckets=names.DURATION_BUCKETS)
        self.alert_latency = BulkHistogram(names.ALERT_LATENCY.name, names.ALERT_LATENCY.help,
                                           names.ALERT_LATENCY.labels, names.LATENCY_BUCKETS)
        r.register(self.alert_latency)
        self.kafka_lag = Gauge(names.KAFKA_LAG.name, names.KAFKA_LAG.help,
                               names.KAFKA_LAG.labels, registry=r)
        self.partitions = Gauge(names.KAFKA_PARTITIONS.name, names.KAFKA_PARTITIONS.help,
                                names.KAFKA_PARTITIONS.labels, registry=r)
        self.last_poll = Gauge(names.LAST_POLL.name, names.LAST_POLL.help,
                               names.LAST_POLL.labels, registry=r)
        self.last_batch = Gauge(names.LAST_BATCH.name, names.LAST_BATCH.help,
                                names.LAST_BATCH.labels, registry=r)
        # Series that exist from the start read 0 instead of "no data" in Grafana.
        for counter in (self.consumed, self.stored, self.existing, self.aux_rereads):
            counter.labels(survey=survey)

    def observe(self, outcome: Outcome) -> None:
        """Count one acknowledged batch (``run_pipeline``'s ``on_outcome``)."""
        survey = self.survey
        now = self._clock()
        status = "failed" if outcome.error is not None else "ok"
        self.batches_total.labels(survey=survey, status=status).inc()
        with self._lock:
            self.batches += 1
            self.last_batch_at = now
        self.last_batch.labels(survey=survey).set(now)
        if outcome.error is not None:
            return
        self.consumed.labels(survey=survey).inc(outcome.packets)
        self.stored.labels(survey=survey).inc(outcome.stored)
        self.existing.labels(survey=survey).inc(outcome.duplicates)
        self.aux_rereads.labels(survey=survey).inc(outcome.counts.get("aux_reads", 0))
        reasons = dict(outcome.rejected_reasons)
        unexplained = outcome.rejected - sum(reasons.values())
        if unexplained > 0:
            reasons["unknown"] = reasons.get("unknown", 0) + unexplained
        for reason, count in reasons.items():
            self.rejected.labels(survey=survey, reason=names.reason_kind(reason)).inc(count)
        for filter_id, count in outcome.filter_passes.items():
            self.filter_passes.labels(survey=survey, filter_id=filter_id).inc(count)
        for stage, seconds in outcome.seconds.items():
            self.stage_seconds.labels(survey=survey, stage=stage).observe(seconds)
        self.batch_seconds.labels(survey=survey).observe(sum(outcome.seconds.values()))
        if outcome.timestamps_ms:
            latency = now - np.asarray(outcome.timestamps_ms, dtype=float) / 1000.0
            self.alert_latency.observe_many(latency, survey=survey)

    def polled(self) -> None:
        """The consume loop asked its source for packets (the liveness heartbeat)."""
        now = self._clock()
        with self._lock:
            self.last_poll_at = now
        self.last_poll.labels(survey=self.survey).set(now)

    def assigned(self, partitions: Sequence[tuple[str, int]]) -> None:
        """The consumer group's assignment changed (eager rebalance: all at once)."""
        self.partitions.labels(survey=self.survey).set(len(partitions))

    def lag(self, topic: str, partition: int, messages: int) -> None:
        self.kafka_lag.labels(survey=self.survey, topic=topic,
                              partition=str(partition)).set(messages)

    def health(self, stale_after_s: float) -> tuple[bool, dict[str, Any]]:
        """Alive and consuming: the loop polled within ``stale_after_s`` (counted from
        the start while it has not polled yet: joining a group takes seconds)."""
        now = self._clock()
        with self._lock:
            last_poll, last_batch, batches = self.last_poll_at, self.last_batch_at, self.batches
        age = now - (last_poll if last_poll is not None else self.started_at)
        healthy = age <= stale_after_s
        return healthy, {
            "status": "ok" if healthy else "stalled",
            "survey": self.survey,
            "seconds_since_poll": None if last_poll is None else round(now - last_poll, 3),
            "seconds_since_batch": None if last_batch is None else round(now - last_batch, 3),
            "batches": batches,
            "stale_after_s": stale_after_s,
        }
