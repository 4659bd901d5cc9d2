"""The clients a worker's stages share: opened once per worker, closed at its end.

``Connections`` is what the driver knows (addresses and options from the
configuration, plain values that pickle); ``open`` makes the clients the stages need
into one ``stages.Resources``. MongoDB's client is a pool shared by every thread of
the worker; so are Valkey's and the Kafka producer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka
import pymongo
import redis

from boom_flow.config import Settings
from boom_flow.stages import RESOURCES, Resources


@dataclass(frozen=True)
class Connections:
    mongo_uri: str
    mongo_database: str
    mongo_options: dict[str, Any] = field(default_factory=dict)
    valkey_url: str | None = None
    kafka_producer: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Connections:
        services = settings.services
        return cls(mongo_uri=services.mongodb.connection_uri,
                   mongo_database=services.mongodb.database,
                   mongo_options=services.mongodb.client_options(),
                   valkey_url=services.valkey.connection_url,
                   kafka_producer=services.kafka.producer_config())

    def open(self, needs: Collection[str]) -> Resources:
        """The clients of ``needs`` (a subset of ``stages.RESOURCES``)."""
        unknown = set(needs) - RESOURCES
        if unknown:
            raise ValueError(f"unknown resources: {', '.join(sorted(unknown))}")
        resources = Resources()
        if "mongo" in needs:
            resources.database = pymongo.MongoClient(self.mongo_uri,
                                                     **self.mongo_options)[self.mongo_database]
        if "valkey" in needs and self.valkey_url is not None:
            resources.valkey = redis.Redis.from_url(self.valkey_url)
        if "kafka" in needs:
            # acks=all: a result counts as delivered only once the broker has it stored.
            resources.producer = confluent_kafka.Producer({"acks": "all", **self.kafka_producer})
        return resources


def close(resources: Resources) -> None:
    """Close what ``Connections.open`` opened (the producer delivers what it holds)."""
    if resources.producer is not None:
        resources.producer.flush(10)
    if resources.valkey is not None:
        resources.valkey.close()
    if resources.database is not None:
        resources.database.client.close()
