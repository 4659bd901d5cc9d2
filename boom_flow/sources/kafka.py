"""Packets from Kafka: a subscribe-based consumer in a group, committed by hand.

Offsets are committed only after the batch that holds them is stored, so a crash
replays at most the batches in flight (at least once; storage is idempotent). The
consumer subscribes instead of reading offset ranges up to the high watermark:
some brokers (the local Tansu among them) report a watermark short of the log's
end, and range readers silently drop the tail.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import confluent_kafka

from boom_flow.core import RawBatch, RawPacket
from boom_flow.sources.limits import DEFAULT_MAX_PACKET_BYTES, screen

log = logging.getLogger(__name__)
_LIBRDKAFKA_LOG = logging.getLogger("boom_flow.librdkafka")


def nightly_topics(pattern: str, night: date, programids: Sequence[int]) -> list[str]:
    """Topic names of one night, e.g. ``ztf_20240716_programid1``."""
    names = {pattern.format(date=night, programid=programid) for programid in programids}
    return sorted(names)


def rolling_topics(
    pattern: str, programids: Sequence[int], clock: Callable[[], datetime] | None = None
) -> Callable[[], list[str]]:
    """Topics to follow now: tonight's, and last night's so its tail is not abandoned.

    ZTF opens new topics at UTC midnight; a pattern without ``{date}`` (LSST's single
    topic) gives the same names at every moment.
    """
    now = clock or (lambda: datetime.now(UTC))

    def topics() -> list[str]:
        today = now().date()
        return sorted({*nightly_topics(pattern, today - timedelta(days=1), programids),
                       *nightly_topics(pattern, today, programids)})

    return topics


class SourceMonitor(Protocol):
    """What a source reports while it runs (``boom_flow.metrics.PipelineMetrics``)."""

    def polled(self) -> None:
        """The source asked for packets (a liveness heartbeat)."""

    def assigned(self, partitions: Sequence[tuple[str, int]]) -> None:
        """The consumer group gave this process these ``(topic, partition)``."""

    def lag(self, topic: str, partition: int, messages: int) -> None:
        """After a commit: messages between it and the partition's high watermark."""


@dataclass(frozen=True)
class Offsets:
    """The commit token of a Kafka batch: the next offset to read, per partition."""

    positions: tuple[tuple[str, int, int], ...]

    def topic_partitions(self) -> list[confluent_kafka.TopicPartition]:
        return [confluent_kafka.TopicPartition(t, p, o) for t, p, o in self.positions]


#: How long one poll waits when the cluster is idle: a packet that arrives then is
#: in a batch within this time.
IDLE_POLL_S = 0.02
#: ... and while packets wait for a worker to become free.
BUSY_POLL_S = 0.05


class KafkaPacketSource:
    """Micro-batches of raw packets from subscribed topics.

    ``topics`` is a list, or a callable re-evaluated on every poll so nightly topics
    roll over without a restart. A batch closes at ``max_packets``, after ``max_ms``,
    or, given ``ready`` (true when the cluster would start a batch at once), as soon as
    packets are waiting and the cluster is ready: at a low rate an alert does not wait
    for ``max_ms``; at a high rate batches grow while the cluster is busy.
    """

    def __init__(
        self,
        consumer_config: dict[str, object],
        topics: Sequence[str] | Callable[[], list[str]],
        max_packets: int,
        max_ms: int,
        monitor: SourceMonitor | None = None,
        max_packet_bytes: int = DEFAULT_MAX_PACKET_BYTES,
    ) -> None:
        self._monitor = monitor
        self.max_packet_bytes = max_packet_bytes
        self._topics = topics if callable(topics) else (lambda fixed=list(topics): fixed)
        self._subscribed: list[str] = []
        self.max_packets = max_packets
        self.max_ms = max_ms
        self._consumer = confluent_kafka.Consumer({**consumer_config, "logger": _LIBRDKAFKA_LOG})
        self._lock = threading.Lock()  # consume and commit come from different threads
        #: When the group last handed us our partitions; None while joining or
        #: rebalancing (e.g. after the broker stopped answering for a session timeout).
        self._assigned_at: float | None = None

    def _follow_topics(self) -> None:
        wanted = self._topics()
        if wanted != self._subscribed:
            log.info("subscribing to %s", ", ".join(wanted))
            with self._lock:
                self._consumer.subscribe(wanted, on_assign=self._on_assign,
                                         on_revoke=self._on_revoke)
            self._subscribed = wanted

    def _on_assign(self, _consumer: object,
                   partitions: list[confluent_kafka.TopicPartition]) -> None:
        self._assigned_at = time.monotonic()
        if self._monitor is not None:
            self._monitor.assigned([(p.topic, p.partition) for p in partitions])

    def _on_revoke(self, _consumer: object, _partitions: object) -> None:
        self._assigned_at = None
        if self._monitor is not None:
            self._monitor.assigned([])

    def batches(
        self, stop: threading.Event, idle_timeout_s: float | None = None,
        ready: Callable[[], bool] | None = None, busy: Callable[[], bool] | None = None,
    ) -> Iterator[RawBatch]:
        """Yield batches until ``stop`` is set, or the source was idle for
        ``idle_timeout_s``.

        Idle means nothing to do: the group has assigned our partitions, no batch is
        in flight (``busy``, e.g. one retrying through an outage) and polls bring
        nothing. Time spent otherwise does not count: joining or rebalancing the group
        (the broker stopped answering for a session timeout revokes the partitions),
        work in flight, and the time the caller holds a yielded batch (a pipeline
        blocked by its backpressure does not poll). So an outage that holds a batch, or
        that lasts the group's session timeout, does not end a run as "idle" with
        packets still unread.
        """
        quiet_since = time.monotonic()
        while not stop.is_set():
            self._follow_topics()
            batch = self._collect(stop, ready)
            if batch is not None:
                yield batch
                quiet_since = time.monotonic()
            elif self._assigned_at is None or (busy is not None and busy()):
                quiet_since = time.monotonic()
            elif (idle_timeout_s is not None
                  and time.monotonic() - max(quiet_since, self._assigned_at) > idle_timeout_s):
                log.info("no packet for %.1f s: the source is idle", idle_timeout_s)
                return

    def _collect(self, stop: threading.Event,
                 ready: Callable[[], bool] | None = None) -> RawBatch | None:
        packets: list[RawPacket] = []
        positions: dict[tuple[str, int], int] = {}
        deadline = time.monotonic() + self.max_ms / 1000
        while len(packets) < self.max_packets and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            idle = ready is not None and ready()
            if idle and packets:
                break
            with self._lock:
                messages = self._consumer.consume(
                    self.max_packets - len(packets),
                    # Packets waiting: look again soon whether a worker became free.
                    timeout=min(remaining, IDLE_POLL_S if idle else
                                BUSY_POLL_S if packets else 0.25),
                )
            if self._monitor is not None:
                self._monitor.polled()
            for message in messages:
                if message.error():
                    # Unknown topics (tonight's not created yet) and partition EOFs are
                    # normal while following nightly topics.
                    log.debug("kafka: %s", message.error())
                    continue
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                _, timestamp = message.timestamp()
                packets.append(RawPacket(
                    data=message.value() or b"", source=f"kafka:{topic}",
                    position=f"{partition}:{offset}", timestamp_ms=timestamp if timestamp > 0
                    else None,
                ))
                positions[(topic, partition)] = max(positions.get((topic, partition), -1),
                                                    offset + 1)
        if not packets:
            return None
        token = Offsets(tuple((t, p, o) for (t, p), o in sorted(positions.items())))
        kept, rejected = screen(packets, self.max_packet_bytes)
        return RawBatch(tuple(kept), tuple(rejected), commit=token)

    def commit(self, token: Offsets) -> None:
        """Acknowledge a stored batch. A partition revoked meanwhile is not an error:
        its new owner re-reads the batch and storage ignores what it already holds."""
        try:
            with self._lock:
                self._consumer.commit(offsets=token.topic_partitions(), asynchronous=False)
        except confluent_kafka.KafkaException as error:
            log.warning("kafka commit failed (batch will be redelivered): %s", error)
            return
        if self._monitor is not None:
            self._report_lag(token, self._monitor)

    def _report_lag(self, token: Offsets, monitor: SourceMonitor) -> None:
        """Messages behind the high watermark the consumer last fetched (cached: no
        round trip). Brokers that report a watermark short of the log's end (Tansu)
        make this a lower bound."""
        for topic, partition, offset in token.positions:
            with self._lock:
                _, high = self._consumer.get_watermark_offsets(
                    confluent_kafka.TopicPartition(topic, partition), cached=True)
            if high is not None and high >= 0:
                monitor.lag(topic, partition, max(high - offset, 0))

    def close(self) -> None:
        with self._lock:
            self._consumer.close()
