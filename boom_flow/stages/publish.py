"""The publish stage: the filter results to Kafka and Valkey, after the write.

Before the commit, so a crash re-runs the batch and nothing is lost; the publisher
(``filters.publish``) makes a redelivered batch publish each result once, from its
ledger in MongoDB (``filters.ledger``), and waits through Kafka or Valkey outages for
up to ``services.outage_wait_s``. The results
topic is created in ``setup`` if the broker lacks it. Reports ``published`` (filter
passes sent) and ``filter_errors`` in ``batch.counts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from boom_flow.config import Settings
from boom_flow.core import AlertBatch
from boom_flow.filters.ledger import PublicationLedger
from boom_flow.filters.publish import (
    DEFAULT_DEDUP_TTL_S,
    DEFAULT_OUTAGE_S,
    DEFAULT_STREAM_MAXLEN,
    ResultsPublisher,
    connection_config,
    ensure_topic,
    retry_through_outages,
)
from boom_flow.filters.results import results_topic
from boom_flow.stages import Resources, Stage, check_params

ALLOWED = ("stream_maxlen", "dedup_ttl_s")


@dataclass
class PublishStage(Stage):
    name: ClassVar[str] = "publish"
    needs: ClassVar[frozenset[str]] = frozenset({"kafka", "valkey", "mongo"})

    survey: str
    #: Where the brokers are (the read-back consumer and the admin client share it).
    kafka: dict[str, Any]
    stream_maxlen: int = DEFAULT_STREAM_MAXLEN
    dedup_ttl_s: int = DEFAULT_DEDUP_TTL_S
    outage_s: float = DEFAULT_OUTAGE_S

    @classmethod
    def configure(cls, settings: Settings, survey: str, params: Mapping[str, Any]) -> Self:
        check_params(cls.name, params, ALLOWED)
        return cls(survey=survey.upper(),
                   kafka=connection_config(settings.services.kafka.producer_config()),
                   stream_maxlen=int(params.get("stream_maxlen", DEFAULT_STREAM_MAXLEN)),
                   dedup_ttl_s=int(params.get("dedup_ttl_s", DEFAULT_DEDUP_TTL_S)),
                   outage_s=float(settings.services.outage_wait_s))

    def setup(self, resources: Resources) -> None:
        topic = results_topic(self.survey)
        retry_through_outages(lambda: ensure_topic(self.kafka, topic), self.outage_s,
                              f"creating {topic}")
        self.publisher = ResultsPublisher(
            resources.get("kafka"), resources.get("valkey"),
            PublicationLedger(resources.get("mongo"), self.survey), self.survey,
            stream_maxlen=self.stream_maxlen, dedup_ttl_s=self.dedup_ttl_s,
            consumer_config=self.kafka, outage_s=self.outage_s)

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        summary = self.publisher(batch)
        return batch.with_counts(published=summary.passes, filter_errors=summary.errors)
