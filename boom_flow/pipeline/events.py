"""What a running pipeline tells its Dask scheduler, batch by batch.

The driver turns each acknowledged ``BatchOutcome`` into one small, msgpack-friendly
event and logs it on the scheduler under the topic ``boom_flow``
(``Client.log_event``). The scheduler keeps the recent events of a topic in a bounded
deque, so it holds a rolling window of the run without any plugin, and the boom_flow
dashboard page (``boom_flow.dashboard``) reads that window. Nothing here is on the
workers' path: an event costs the driver one message per batch.

An event (the keys are the vocabulary the page reads)::

    {"run": "3f2a...", "survey": "ztf", "at_ms": 1.7e12,
     "packets": 100, "alerts": 100, "stored": 97, "rejected": 0, "duplicates": 3,
     "seconds": {"decode": 0.12, ..., "publish": 0.03},
     "latency_ms": [812, 830, ...],           # a sample, at most LATENCY_SAMPLE
     "filter_passes": {"<filter id>": 4}, "filter_names": {"<filter id>": "name"},
     "kafka_lag": {"ztf_20240716_programid1:0": 1200}}   # when sampled
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from boom_flow.pipeline.worker import BatchOutcome
from boom_flow.sources.kafka import SourceMonitor

log = logging.getLogger(__name__)

TOPIC = "boom_flow"
#: Per-alert latencies sent per batch (evenly spread over the batch when it is larger).
LATENCY_SAMPLE = 200


def latencies_ms(outcome: BatchOutcome, done_ms: float) -> list[int]:
    """Per alert, ms from its arrival to its batch's acknowledgement (stored, filter
    results published, committed): arrival is the Kafka timestamp when the packet has
    one, else the moment the driver handed the batch to the pipeline."""
    arrivals = list(outcome.timestamps_ms)
    if not arrivals and outcome.submitted_ms is not None:
        arrivals = [outcome.submitted_ms] * outcome.alerts
    if not arrivals:
        return []
    values = done_ms - np.asarray(arrivals, dtype=float)
    if values.size > LATENCY_SAMPLE:
        values = values[np.linspace(0, values.size - 1, LATENCY_SAMPLE).astype(int)]
    return [max(0, round(float(v))) for v in values]


def outcome_event(outcome: BatchOutcome, run: str, survey: str, done_ms: float,
                  kafka_lag: dict[str, int] | None = None) -> dict[str, Any]:
    """The event of one acknowledged batch (see the module doc)."""
    event: dict[str, Any] = {
        "run": run, "survey": survey, "at_ms": done_ms,
        "packets": outcome.packets, "alerts": outcome.alerts, "stored": outcome.stored,
        "duplicates": outcome.duplicates, "rejected": outcome.rejected,
        "seconds": {stage: float(s) for stage, s in outcome.seconds.items()},
        "latency_ms": latencies_ms(outcome, done_ms),
        "filter_passes": dict(outcome.filter_passes),
        "filter_names": dict(outcome.filter_names),
        "failed": outcome.error is not None,
    }
    if kafka_lag is not None:
        event["kafka_lag"] = dict(kafka_lag)
    return event


def scheduler_log(client: Any) -> Callable[[str, Any], None]:
    """``client.log_event`` without waiting: the outcome hook runs on the client's
    event loop (streamz's sink), where a blocking ``log_event`` would deadlock, so the
    scheduler call is scheduled on that loop instead (safe from any thread)."""

    def log(topic: str, msg: Any) -> None:
        client.loop.add_callback(client.scheduler.log_event, topic=topic, msg=msg)

    return log


class LatestLag:
    """A Kafka source monitor keeping the newest lag of each partition this process owns
    (the source reports it after every commit, from the watermark it last fetched: no
    extra broker round trip); ``latest()`` hands over what changed since it was last
    asked."""

    def __init__(self) -> None:
        self._lags: dict[str, int] = {}
        self._changed = False
        self._guard = threading.Lock()

    def polled(self) -> None:
        pass

    def assigned(self, partitions: Sequence[tuple[str, int]]) -> None:
        owned = {f"{topic}:{partition}" for topic, partition in partitions}
        with self._guard:
            self._lags = {name: lag for name, lag in self._lags.items() if name in owned}
            self._changed = True

    def lag(self, topic: str, partition: int, messages: int) -> None:
        with self._guard:
            self._lags[f"{topic}:{partition}"] = int(messages)
            self._changed = True

    def latest(self) -> dict[str, int] | None:
        with self._guard:
            if not self._changed:
                return None
            self._changed = False
            return dict(self._lags)


class Monitors:
    """Several source monitors as one (the metrics' and the dashboard's)."""

    def __init__(self, *monitors: SourceMonitor | None) -> None:
        self._monitors = [m for m in monitors if m is not None]

    def polled(self) -> None:
        for monitor in self._monitors:
            monitor.polled()

    def assigned(self, partitions: Sequence[tuple[str, int]]) -> None:
        for monitor in self._monitors:
            monitor.assigned(partitions)

    def lag(self, topic: str, partition: int, messages: int) -> None:
        for monitor in self._monitors:
            monitor.lag(topic, partition, messages)


@dataclass
class SchedulerEvents:
    """An ``on_outcome`` hook that logs every batch's event on the scheduler.

    ``log`` sends one event (``scheduler_log(client)``); ``lag`` returns the newest
    Kafka lag per partition when it changed (``LatestLag.latest``). A failure to log is counted,
    never raised: watching the pipeline must not stop it.
    """

    log: Callable[[str, Any], Any]
    survey: str
    lag: Callable[[], dict[str, int] | None] | None = None
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    sent: int = 0
    failures: int = 0

    def __call__(self, outcome: BatchOutcome) -> None:
        done_ms = time.time() * 1000
        try:
            lag = self.lag() if self.lag is not None else None
            self.log(TOPIC, outcome_event(outcome, self.run, self.survey, done_ms, lag))
            self.sent += 1
        except Exception as error:
            self.failures += 1
            log.debug("dashboard event not sent: %s", error)


def chain(*hooks: Callable[[BatchOutcome], None] | None) -> Callable[[BatchOutcome], None]:
    """One ``on_outcome`` hook calling each of ``hooks`` (None ones skipped) in order."""
    present = [hook for hook in hooks if hook is not None]

    def call(outcome: BatchOutcome) -> None:
        for hook in present:
            hook(outcome)

    return call
