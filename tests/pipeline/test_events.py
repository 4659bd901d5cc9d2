"""What the driver tells the scheduler per batch (``pipeline.events``), without a cluster."""

from __future__ import annotations

from typing import Any

import msgpack

from boom_flow.pipeline.events import (
    LATENCY_SAMPLE,
    TOPIC,
    LatestLag,
    Monitors,
    SchedulerEvents,
    chain,
    latencies_ms,
    outcome_event,
)
from boom_flow.pipeline.worker import BatchOutcome


def test_latency_is_from_kafka_timestamps_or_else_from_the_hand_over() -> None:
    kafka = BatchOutcome(alerts=2, timestamps_ms=[1000, 1500], submitted_ms=1900.0)
    assert latencies_ms(kafka, done_ms=2000.0) == [1000, 500]
    files = BatchOutcome(alerts=3, submitted_ms=1900.0)
    assert latencies_ms(files, done_ms=2000.0) == [100, 100, 100]
    assert latencies_ms(BatchOutcome(alerts=3), done_ms=2000.0) == []


def test_latency_sample_is_bounded_and_spans_the_batch() -> None:
    outcome = BatchOutcome(alerts=1000, timestamps_ms=list(range(1000)))
    sample = latencies_ms(outcome, done_ms=5000.0)
    assert len(sample) == LATENCY_SAMPLE
    assert (sample[0], sample[-1]) == (5000, 4001)


def test_event_carries_counts_stages_passes_and_is_msgpack_serialisable() -> None:
    outcome = BatchOutcome(packets=5, alerts=4, stored=3, duplicates=1, rejected=1,
                           seconds={"decode": 0.5}, filter_passes={"f1": 2},
                           filter_names={"f1": "cats"}, submitted_ms=0.0)
    event = outcome_event(outcome, "run1", "ztf", 10.0, {"t:0": 3})
    assert msgpack.unpackb(msgpack.packb(event)) == event
    assert event["alerts"] == 4 and event["stored"] == 3 and event["rejected"] == 1
    assert event["seconds"] == {"decode": 0.5} and event["filter_passes"] == {"f1": 2}
    assert event["kafka_lag"] == {"t:0": 3} and event["failed"] is False
    assert "kafka_lag" not in outcome_event(outcome, "run1", "ztf", 10.0)


def test_scheduler_events_log_each_outcome_and_never_raise() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    events = SchedulerEvents(lambda topic, msg: sent.append((topic, msg)), "ztf",
                             lag=lambda: {"t:0": 1})
    events(BatchOutcome(alerts=1))
    assert [topic for topic, _ in sent] == [TOPIC]
    assert sent[0][1]["kafka_lag"] == {"t:0": 1} and sent[0][1]["run"] == events.run

    def broken(_topic: str, _msg: Any) -> None:
        raise ConnectionError("scheduler gone")

    failing = SchedulerEvents(broken, "ztf")
    failing(BatchOutcome())
    assert (failing.sent, failing.failures) == (0, 1)


def test_chain_calls_every_hook_in_order_and_skips_none() -> None:
    calls: list[str] = []
    hook = chain(lambda o: calls.append("a"), None, lambda o: calls.append("b"))
    hook(BatchOutcome())
    assert calls == ["a", "b"]


def test_latest_lag_keeps_the_owned_partitions_and_hands_changes_over_once() -> None:
    lag = LatestLag()
    assert lag.latest() is None
    lag.assigned([("t", 0), ("t", 1)])
    lag.lag("t", 0, 40)
    lag.lag("t", 1, 7)
    lag.lag("t", 0, 25)
    assert lag.latest() == {"t:0": 25, "t:1": 7}
    assert lag.latest() is None  # nothing new since
    lag.assigned([("t", 1)])  # a rebalance took partition 0 away
    assert lag.latest() == {"t:1": 7}


def test_monitors_forward_to_each_and_skip_none() -> None:
    first, second = LatestLag(), LatestLag()
    both = Monitors(first, None, second)
    both.polled()
    both.assigned([("t", 0)])
    both.lag("t", 0, 3)
    assert first.latest() == second.latest() == {"t:0": 3}


def test_no_lag_sample_means_no_lag_key() -> None:
    sent: list[dict[str, Any]] = []
    SchedulerEvents(lambda _t, msg: sent.append(msg), "ztf", lag=lambda: None)(BatchOutcome())
    assert "kafka_lag" not in sent[0]
