"""The Kafka source against the real (Tansu) broker: nightly topics, batches, commits."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.config import Settings
from boom_flow.sources.kafka import KafkaPacketSource, nightly_topics, rolling_topics

PATTERN = "ztf_{date:%Y%m%d}_programid{programid}"


def test_nightly_topic_names() -> None:
    assert nightly_topics(PATTERN, date(2024, 7, 16), [1, 2]) == [
        "ztf_20240716_programid1", "ztf_20240716_programid2"]
    assert nightly_topics("alerts-simulated", date(2024, 7, 16), [1]) == ["alerts-simulated"]


def test_topics_roll_over_at_utc_midnight_and_keep_last_night() -> None:
    now = [datetime(2024, 7, 16, 23, 59, tzinfo=UTC)]
    topics = rolling_topics(PATTERN, [1], clock=lambda: now[0])
    assert topics() == ["ztf_20240715_programid1", "ztf_20240716_programid1"]
    now[0] = datetime(2024, 7, 17, 0, 0, 1, tzinfo=UTC)
    assert topics() == ["ztf_20240716_programid1", "ztf_20240717_programid1"]


@pytest.fixture
def night_topics(stack_settings: Settings) -> Iterator[list[str]]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_ztf_20240716_programid{p}" for p in (1, 2)]
    admin = AdminClient({"bootstrap.servers": stack_settings.services.kafka.bootstrap})
    for future in admin.create_topics([NewTopic(n, 3, 1) for n in names]).values():
        future.result(10)
    yield names
    admin.delete_topics(names, operation_timeout=10)


def _produce(settings: Settings, topic: str, payloads: list[bytes]) -> None:
    producer = confluent_kafka.Producer(settings.services.kafka.producer_config())
    for i, payload in enumerate(payloads):
        producer.produce(topic, payload, partition=i % 3)
    assert producer.flush(10) == 0


def _drain(source: KafkaPacketSource, idle_s: float = 3.0) -> list:
    return list(source.batches(threading.Event(), idle_timeout_s=idle_s))


def test_every_message_arrives_once_in_bounded_batches_and_commits_hold(
    stack_settings: Settings, night_topics: list[str]
) -> None:
    sent = {f"{t}-{i}".encode() for t in night_topics for i in range(25)}
    for topic in night_topics:
        _produce(stack_settings, topic, sorted(p for p in sent if p.startswith(topic.encode())))
    group = f"g-{uuid.uuid4().hex[:8]}"
    config = stack_settings.services.kafka.consumer_config(group_id=group)
    source = KafkaPacketSource(config, night_topics, max_packets=7, max_ms=500)
    try:
        got = _drain(source)
        for batch in got:
            source.commit(batch.commit)
    finally:
        source.close()
    received = [p.data for b in got for p in b.packets]
    assert sorted(received) == sorted(sent)  # nothing lost, nothing twice (incl. the tail)
    assert all(len(b.packets) <= 7 for b in got)
    first = got[0].packets[0]
    assert first.source.startswith("kafka:") and ":" in first.position
    assert first.timestamp_ms is not None and first.timestamp_ms > 1_600_000_000_000

    # A new member of the same group starts after the commits: nothing left to read.
    again = KafkaPacketSource(config, night_topics, max_packets=7, max_ms=500)
    try:
        assert _drain(again, idle_s=2.0) == []
    finally:
        again.close()


def test_uncommitted_batches_are_delivered_again(
    stack_settings: Settings, night_topics: list[str]
) -> None:
    _produce(stack_settings, night_topics[0], [b"a", b"b", b"c"])
    config = stack_settings.services.kafka.consumer_config(group_id=f"g-{uuid.uuid4().hex[:8]}")
    first = KafkaPacketSource(config, night_topics, max_packets=10, max_ms=500)
    try:
        assert sorted(p.data for b in _drain(first) for p in b.packets) == [b"a", b"b", b"c"]
    finally:
        first.close()  # crashed before committing
    second = KafkaPacketSource(config, night_topics, max_packets=10, max_ms=500)
    try:
        assert sorted(p.data for b in _drain(second) for p in b.packets) == [b"a", b"b", b"c"]
    finally:
        second.close()


def test_a_packet_over_the_maximum_is_rejected_cut_and_the_rest_flows(
    stack_settings: Settings, night_topics: list[str]
) -> None:
    payloads = [b"small-1", b"x" * 5000, b"small-2"]
    _produce(stack_settings, night_topics[0], payloads)
    source = KafkaPacketSource(stack_settings.services.kafka.consumer_config(
        f"g{uuid.uuid4().hex}"), night_topics, max_packets=10, max_ms=500,
        max_packet_bytes=1000)
    try:
        batches = _drain(source)
    finally:
        source.close()
    assert sorted(p.data for b in batches for p in b.packets) == [b"small-1", b"small-2"]
    (rejection,) = [r for b in batches for r in b.rejected]
    assert rejection.length == 5000 and rejection.data == b"x" * 5000
    assert "exceeds the maximum of 1000 bytes" in rejection.reason
    assert rejection.source == f"kafka:{night_topics[0]}"


def test_a_batch_closes_as_soon_as_packets_wait_and_the_cluster_is_ready(
    stack_settings: Settings, night_topics: list[str]
) -> None:
    _produce(stack_settings, night_topics[0], [b"a", b"b", b"c"])
    config = stack_settings.services.kafka.consumer_config(group_id=f"g-{uuid.uuid4().hex[:8]}")
    # Far from full, far from its time bound: only readiness can close the batch.
    source = KafkaPacketSource(config, night_topics, max_packets=500, max_ms=120_000)
    asked: list[bool] = []

    def ready() -> bool:
        asked.append(True)
        return True

    try:
        started = time.monotonic()
        batches = source.batches(threading.Event(), idle_timeout_s=3.0, ready=ready)
        received: list[bytes] = []
        while len(received) < 3:  # each batch closes as soon as something is there
            received += [p.data for p in next(batches).packets]
        assert time.monotonic() - started < 60, "waited for max_ms"
        assert asked
    finally:
        source.close()
    assert sorted(received) == [b"a", b"b", b"c"]


def test_while_the_cluster_is_busy_a_batch_keeps_growing_until_its_bounds(
    stack_settings: Settings, night_topics: list[str]
) -> None:
    for payload in (b"a", b"b", b"c"):  # one partition: they come in one fetch
        _produce(stack_settings, night_topics[0], [payload])
    config = stack_settings.services.kafka.consumer_config(group_id=f"g-{uuid.uuid4().hex[:8]}")
    source = KafkaPacketSource(config, night_topics, max_packets=500, max_ms=6000)
    try:
        got = list(source.batches(threading.Event(), idle_timeout_s=3.0, ready=lambda: False))
    finally:
        source.close()
    assert [sorted(p.data for p in b.packets) for b in got] == [[b"a", b"b", b"c"]]


# Idleness (`--until-idle`): only time with nothing to do counts. In the fault suite a
# Kafka freeze revoked the partitions (session timeout) and the run stopped "idle"
# during the rejoin, with 20 packets unread; the time a batch was held by an outage
# counted as idle too.


def _group_config(settings: Settings) -> dict[str, object]:
    return settings.services.kafka.consumer_config(group_id=f"g-{uuid.uuid4().hex[:8]}")


def test_the_time_a_batch_is_held_is_not_idleness(
    stack_settings: Settings, night_topics: list[str]
) -> None:
    topic = night_topics[0]
    _produce(stack_settings, topic, [b"first"])
    source = KafkaPacketSource(_group_config(stack_settings), [topic], max_packets=10,
                               max_ms=500)
    try:
        batches = source.batches(threading.Event(), idle_timeout_s=2.0)
        assert [p.data for p in next(batches).packets] == [b"first"]
        # The pipeline holds the batch past the idle timeout (its push blocked while a
        # server was away); the next packet comes a second after it lets go.
        time.sleep(3)
        later = threading.Timer(1.0, _produce, (stack_settings, topic, [b"second"]))
        later.start()
        rest = [p.data for batch in batches for p in batch.packets]
        later.join()
    finally:
        source.close()
    assert rest == [b"second"]


def test_the_source_is_not_idle_while_batches_are_in_flight(
    stack_settings: Settings, night_topics: list[str]
) -> None:
    source = KafkaPacketSource(_group_config(stack_settings), night_topics, max_packets=10,
                               max_ms=200)
    # A batch retrying through an outage, past the group join (~3 s) and the timeout.
    in_flight_until = time.monotonic() + 6
    try:
        assert list(source.batches(threading.Event(), idle_timeout_s=1.0,
                                   busy=lambda: time.monotonic() < in_flight_until)) == []
    finally:
        source.close()
    # Idle from the last poll that found the batch in flight (a poll lasts max_ms).
    assert time.monotonic() >= in_flight_until + 1.0 - 0.2


class _Assignments:
    """A ``SourceMonitor`` that keeps when the group gave which partitions, and starts
    ``on_first`` at the first assignment."""

    def __init__(self, on_first: threading.Thread) -> None:
        self.events: list[tuple[float, list[tuple[str, int]]]] = []
        self._on_first = on_first

    def polled(self) -> None:
        pass

    def assigned(self, partitions: list[tuple[str, int]]) -> None:
        if not self.events:
            self._on_first.start()
        self.events.append((time.monotonic(), list(partitions)))

    def lag(self, topic: str, partition: int, messages: int) -> None:
        pass


def test_a_rebalance_is_not_idleness(
    stack_settings: Settings, night_topics: list[str]
) -> None:
    # Frequent heartbeats: our member learns of the rebalance at once, well within the
    # idle timeout, while the group's rejoin lasts longer (Tansu holds a join for half
    # the session timeout).
    config = {**_group_config(stack_settings), "heartbeat.interval.ms": 300}
    leave = threading.Event()

    def second_member() -> None:  # joining makes the group take our partitions back
        other = KafkaPacketSource(config, night_topics, max_packets=10, max_ms=200)
        try:
            for _ in other.batches(leave):
                pass
        finally:
            other.close()

    joiner = threading.Thread(target=second_member)
    assignments = _Assignments(on_first=joiner)
    source = KafkaPacketSource(config, night_topics, max_packets=10, max_ms=200,
                               monitor=assignments)
    try:
        assert list(source.batches(threading.Event(), idle_timeout_s=2.0)) == []
        ended = time.monotonic()
    finally:
        source.close()
        leave.set()
        joiner.join(30)
    revoked = [at for at, partitions in assignments.events if not partitions]
    assert revoked, assignments.events  # the second member's join revoked ours
    last_assigned = max(at for at, partitions in assignments.events if partitions)
    assert last_assigned > revoked[0]
    # Idle only from the partitions' return: the rejoin did not count.
    assert ended - last_assigned >= 2.0, assignments.events
