"""Reading what the broker holds on the results topic, for the publishing tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from typing import Any

import confluent_kafka

from boom_flow.config import Settings
from boom_flow.filters.publish import ensure_topic
from boom_flow.filters.results import decode, results_topic


class TopicReader:
    """Reads the messages a test produces: from the topic's end when it was created."""

    def __init__(self, settings: Settings, survey: str = "ZTF") -> None:
        self.topic = results_topic(survey)
        config = settings.services.kafka.consumer_config(group_id=f"t{uuid.uuid4().hex}")
        ensure_topic(settings.services.kafka.producer_config(), self.topic)
        self.consumer = confluent_kafka.Consumer(config)
        partitions = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        self.partitions = []
        for number in partitions.partitions:
            _, high = self.consumer.get_watermark_offsets(
                confluent_kafka.TopicPartition(self.topic, number), timeout=10)
            self.partitions.append(confluent_kafka.TopicPartition(self.topic, number, high))
        self.consumer.assign(self.partitions)

    def read(self, expected: int, filter_ids: Collection[str] | None = None,
             idle_s: float = 1.0, timeout_s: float = 30.0
             ) -> list[tuple[bytes | None, dict[str, Any]]]:
        """(key, decoded record) of every new message naming one of ``filter_ids`` (the
        test's own: the topic is shared by the session's tests, and Tansu's high
        watermark is the last offset, not the next, so one older message is read): at
        least ``expected``, then whatever else comes within ``idle_s`` (so that extra
        messages are seen)."""
        messages: list[tuple[bytes | None, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout_s
        idle_until = None
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.2)
            if message is None or message.error():
                if len(messages) >= expected:
                    idle_until = idle_until or time.monotonic() + idle_s
                    if time.monotonic() >= idle_until:
                        break
                continue
            idle_until = None
            (record,) = decode(message.value())
            if filter_ids is None or {f["filter_id"] for f in record["filters"]} & set(
                    filter_ids):
                messages.append((message.key(), record))
        return messages

    def close(self) -> None:
        self.consumer.close()
