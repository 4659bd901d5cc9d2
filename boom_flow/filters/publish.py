"""Publish a filtered batch's results: Kafka topic, per-filter Valkey streams, errors.

Runs on the worker after the batch is written and before its offsets are committed
(the pipeline's ``publish`` stage), so a crash at any point re-runs the batch
and nothing is lost (at least once). Redelivery must not repeat a result. What was
published is recorded in MongoDB, beside the archive (``filters.ledger``), because
Valkey may come back empty; Valkey only records which results have their stream
entry (field ``filter_id`` of the hash ``boom_flow:results:{S}:{candid}``, ``done``,
kept ``dedup_ttl_s``). For each (candid, filter_id) pair:

1. no ledger state: never published. The ledger says ``pending:<ms>``, the record is
   produced to Kafka and flushed; once Kafka confirmed every delivery the ledger says
   ``delivered``; then its stream entry and the ``done`` mark are written in one
   Valkey transaction.
2. ``delivered`` and ``done``: skipped. ``delivered`` only: its stream entry is written.
3. ``pending``: a crash interrupted step 1, before or after Kafka had it. The topic is
   read back from the pending time (only then: a rare path) and the pair is published
   if it is not there, or only marked ``delivered`` and given its stream entry if it is.

So a redelivered batch publishes each pair exactly once, whenever the crash happened
and whatever Valkey forgot. The hash ``boom_flow:filters:{S}:passes`` counts the results
of each filter (in the same transaction as the ``done`` marks).

Outages: when Kafka or Valkey cannot be reached, the publisher waits and tries again
(with the same ledger, so nothing is doubled) for up to ``outage_s`` seconds before it
fails the batch, as pymongo does for MongoDB. A failed flush purges the producer's
queue first, so a retry never leaves an older copy behind to be delivered later.

Evaluation errors (``_filter_errors``) are counted per filter
(``boom_flow:filters:{S}:errors`` hash) and kept with their reason in the capped stream
``boom_flow:filters:{S}:error_log``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import confluent_kafka
import pymongo
import pymongo.errors
import redis
import redis.exceptions
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.core import AlertBatch
from boom_flow.core.text import clip
from boom_flow.filters.evaluate import ERRORS
from boom_flow.filters.ledger import DELIVERED, PENDING, PublicationLedger
from boom_flow.filters.results import (
    ResultRecord,
    decode,
    encode,
    result_records,
    results_topic,
    stream_entries,
    stream_key,
)
from boom_flow.storage.documents import column_values

log = logging.getLogger("boom_flow.filters.publish")
T = TypeVar("T")

#: The Valkey mark of a (candid, filter) pair whose stream entry is written.
DONE = "done"
#: How long a batch waits for Kafka or Valkey to come back before it fails.
DEFAULT_OUTAGE_S = 300.0
DEFAULT_STREAM_MAXLEN = 10_000
DEFAULT_DEDUP_TTL_S = 2 * 86_400
ERROR_LOG_MAXLEN = 10_000


class PublishError(RuntimeError):
    """Results could not be delivered; the batch must not be committed."""


@dataclass
class PublishSummary:
    records: int = 0
    passes: int = 0
    #: Passes already published by an earlier delivery of the same alerts.
    repeated: int = 0
    errors: int = 0


def marks_key(survey: str, candid: int) -> str:
    """The hash of an alert's publication marks (field: filter_id)."""
    return f"boom_flow:results:{survey.upper()}:{candid}"


def passes_key(survey: str) -> str:
    """Results published per filter (a hash: filter_id -> count), for dashboards."""
    return f"boom_flow:filters:{survey.upper()}:passes"


def error_counts_key(survey: str) -> str:
    return f"boom_flow:filters:{survey.upper()}:errors"


def error_marks_key(survey: str, candid: Any) -> str:
    """The hash of the filter versions already counted as failing on an alert."""
    return f"boom_flow:filters:{survey.upper()}:error_marks:{candid}"


def error_log_key(survey: str) -> str:
    return f"boom_flow:filters:{survey.upper()}:error_log"


class ResultsPublisher:
    """Publishes result records; one per worker (``stages.publish`` builds it).

    ``consumer_config``: how to read the results topic back, to settle the pairs a
    crash left pending (None: publish them again, at least once). ``outage_s``: how
    long to keep trying through a Kafka or Valkey outage (0: fail at once)."""

    def __init__(self, producer: Any, valkey: redis.Redis, ledger: PublicationLedger,
                 survey: str, *, stream_maxlen: int = DEFAULT_STREAM_MAXLEN,
                 dedup_ttl_s: int = DEFAULT_DEDUP_TTL_S, flush_timeout_s: float = 30.0,
                 consumer_config: Mapping[str, Any] | None = None,
                 outage_s: float = 0.0) -> None:
        self.producer = producer
        self.valkey = valkey
        self.ledger = ledger
        self.outage_s = outage_s
        #: False after a failed delivery: the broker may have come back without the
        #: topic (a broker without persistent storage), so it is created again.
        self._topic_ready = True
        self.survey = survey.upper()
        self.topic = results_topic(survey)
        self.stream_maxlen = stream_maxlen
        self.dedup_ttl_s = dedup_ttl_s
        self.flush_timeout_s = flush_timeout_s
        self.consumer_config = consumer_config

    def __call__(self, batch: AlertBatch) -> PublishSummary:
        """Publish ``batch``'s results, waiting through outages (see the module doc)."""
        return retry_through_outages(lambda: self._publish(batch), self.outage_s,
                                     f"publishing {self.survey} results")

    def _publish(self, batch: AlertBatch) -> PublishSummary:
        if not self._topic_ready and self.consumer_config is not None:
            ensure_topic(self.consumer_config, self.topic)
        self._topic_ready = True
        records = result_records(batch)
        summary = PublishSummary()
        if records:
            fresh, in_kafka = self._unpublished(records)
            total = sum(len(r.filter_ids) for r in records)
            summary.repeated = total - sum(len(r.filter_ids) for r in fresh)
            if fresh:
                # Pending first: a crash from here on leaves a trace to settle on redelivery.
                self.ledger.mark(_pairs(fresh), f"{PENDING}{int(time.time() * 1000)}")
                self._produce(fresh)
                self.ledger.mark(_pairs(fresh), DELIVERED)
            self._finish([*fresh, *in_kafka])
            summary.records = len(fresh)
            summary.passes = sum(len(r.filter_ids) for r in fresh)
        summary.errors = self.record_errors(batch)
        return summary

    def _finish(self, records: list[ResultRecord]) -> None:
        """The stream entries and the ``done`` marks, in one transaction."""
        if not records:
            return
        pipe = self.valkey.pipeline(transaction=True)
        passes: Counter[str] = Counter()
        for result in records:
            for filter_id, entry in zip(result.filter_ids, stream_entries(result.record),
                                        strict=True):
                pipe.xadd(stream_key(filter_id), {"data": entry},
                          maxlen=self.stream_maxlen, approximate=True)
                passes[filter_id] += 1
            key = marks_key(self.survey, result.candid)
            pipe.hset(key, mapping=dict.fromkeys(result.filter_ids, DONE))
            pipe.expire(key, self.dedup_ttl_s)
        for filter_id, count in passes.items():
            pipe.hincrby(passes_key(self.survey), filter_id, count)
        pipe.execute()

    def _unpublished(self, records: list[ResultRecord]
                     ) -> tuple[list[ResultRecord], list[ResultRecord]]:
        """(records of the pairs never published, records of the pairs Kafka holds that
        miss their stream entry)."""
        states = self.ledger.states(r.candid for r in records)
        pipe = self.valkey.pipeline(transaction=False)
        for record in records:
            pipe.hmget(marks_key(self.survey, record.candid), record.filter_ids)
        streamed = {(r.candid, f) for r, found in zip(records, pipe.execute(), strict=True)
                    for f, mark in zip(r.filter_ids, found, strict=True)
                    if mark in (DONE, DONE.encode())}
        todo: dict[int, set[str]] = {}
        unstreamed: dict[int, set[str]] = {}
        pending: dict[tuple[int, str], int] = {}
        for record in records:
            for filter_id in record.filter_ids:
                pair = (record.candid, filter_id)
                state = states.get(pair)
                since = self.ledger.pending_since(state)
                if since is not None:
                    pending[pair] = since
                elif state is None:
                    todo.setdefault(record.candid, set()).add(filter_id)
                elif pair not in streamed:
                    unstreamed.setdefault(record.candid, set()).add(filter_id)
        found: set[tuple[int, str]] = set()
        if pending and self.consumer_config is not None:
            found = published_pairs(self.consumer_config, self.topic, set(pending),
                                    min(pending.values()))
            log.warning("settled %d results left pending by an interrupted batch (%d were "
                        "already on %s)", len(pending), len(found), self.topic)
        settled: dict[int, set[str]] = {}
        for candid, filter_id in pending:
            target = settled if (candid, filter_id) in found else todo
            target.setdefault(candid, set()).add(filter_id)
        if settled:
            self.ledger.mark(settled, DELIVERED)
        for candid, filter_ids in settled.items():
            unstreamed.setdefault(candid, set()).update(filter_ids)
        return ([r.only(todo[r.candid]) for r in records if r.candid in todo],
                [r.only(unstreamed[r.candid]) for r in records if r.candid in unstreamed])

    def _produce(self, records: list[ResultRecord]) -> None:
        failures: list[str] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        for result in records:
            owner = result.record["objectId"]
            self.producer.produce(self.topic, encode(result.record),
                                  key=str(result.candid if owner is None else owner).encode(),
                                  on_delivery=delivered)
            self.producer.poll(0)
        left = self.producer.flush(self.flush_timeout_s)
        if left or failures:
            # Drop what is still queued: a retry produces it again, and an old copy
            # delivered later would be a duplicate. (One already sent may still land:
            # the ledger's pending mark makes the retry look for it first.)
            self.producer.purge()
            self.producer.flush(0)
            self._topic_ready = False
            raise PublishError(f"{self.topic}: {left} results undelivered after "
                               f"{self.flush_timeout_s} s; errors: {failures[:3]}")

    def record_errors(self, batch: AlertBatch) -> int:
        """Keep every evaluation error (filter, candid, reason) and count them, once per
        (candid, filter version): a redelivered batch counts nothing twice."""
        if ERRORS not in batch.enrichments:
            return 0
        errors = batch.enrichments[ERRORS].tolist()
        rows = [i for i, value in enumerate(errors) if value]
        if not rows:
            return 0
        ids = column_values(batch.alerts, "_id")
        object_ids = column_values(batch.alerts, "objectId")
        fresh = self._first_seen([(ids[row], error) for row in rows for error in errors[row]])
        pipe = self.valkey.pipeline(transaction=False)
        count = 0
        for row in rows:
            for error in errors[row]:
                if (ids[row], error["filter_id"], error["fid"]) not in fresh:
                    continue
                count += 1
                pipe.hincrby(error_counts_key(self.survey), error["filter_id"], 1)
                pipe.xadd(error_log_key(self.survey), {"data": json.dumps({
                    "filter_id": error["filter_id"], "fid": error["fid"],
                    "candid": ids[row], "objectId": object_ids[row],
                    "reason": error["reason"]})},
                    maxlen=ERROR_LOG_MAXLEN, approximate=True)
        pipe.execute()
        if count:
            log.warning("%d filter evaluation errors in a %s batch (see %s)", count,
                        self.survey, error_log_key(self.survey))
        return count

    def _first_seen(self, errors: list[tuple[Any, dict[str, Any]]]
                    ) -> set[tuple[Any, str, str]]:
        """The (candid, filter_id, fid) of ``errors`` never recorded before (HSETNX on a
        per-alert hash that expires with the publication marks)."""
        pipe = self.valkey.pipeline(transaction=False)
        for candid, error in errors:
            key = error_marks_key(self.survey, candid)
            pipe.hsetnx(key, f"{error['filter_id']}:{error['fid']}", 1)
            pipe.expire(key, self.dedup_ttl_s)
        answers = pipe.execute()[::2]
        return {(candid, error["filter_id"], error["fid"])
                for (candid, error), new in zip(errors, answers, strict=True) if new}


def _pairs(records: list[ResultRecord]) -> dict[int, list[str]]:
    return {r.candid: r.filter_ids for r in records}


#: The errors of a server that is away for a while: worth waiting for.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError, redis.TimeoutError, redis.exceptions.BusyLoadingError,
    PublishError, confluent_kafka.KafkaException, pymongo.errors.AutoReconnect,
    pymongo.errors.ServerSelectionTimeoutError)


def retry_through_outages(call: Callable[[], T], outage_s: float, what: str,
                          sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, tried again after an outage error until ``outage_s`` seconds have
    passed (then the last error is raised). ``call`` must be safe to repeat."""
    deadline = time.monotonic() + outage_s
    delay = 0.5
    while True:
        try:
            return call()
        except OUTAGE_ERRORS as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: %s; trying again in %.1f s", what, clip(str(error), 300), delay)
            sleep(delay)
            delay = min(delay * 2, 5.0)


def published_pairs(consumer_config: Mapping[str, Any], topic: str,
                    wanted: set[tuple[int, str]], since_ms: int) -> set[tuple[int, str]]:
    """Which of the (candid, filter_id) pairs ``topic`` holds in a record produced at or
    after ``since_ms`` (minus a minute of clock skew): read once, only after a crash."""
    consumer = confluent_kafka.Consumer({**consumer_config,
                                         "group.id": f"boom-flow-settle-{uuid.uuid4().hex}",
                                         "enable.auto.commit": False})
    found: set[tuple[int, str]] = set()
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        wanted_starts = [confluent_kafka.TopicPartition(topic, n, since_ms - 60_000)
                         for n in metadata.partitions]
        try:
            starts = consumer.offsets_for_times(wanted_starts, timeout=10)
        except confluent_kafka.KafkaException as error:
            log.warning("%s: no offsets by time (%s); reading it from the start", topic, error)
            starts = [confluent_kafka.TopicPartition(topic, n, -2) for n in metadata.partitions]
        # Read to the end: the high watermark, less one (Tansu reports the last offset
        # there, not the next), then until the topic stays quiet for a second.
        position: dict[int, int] = {}
        ends: dict[int, int] = {}
        for start in starts:
            low, high = consumer.get_watermark_offsets(start, timeout=10, cached=False)
            if start.offset == -2:  # from the start
                start.offset = low
            elif start.offset < 0:  # nothing produced since then
                start.offset = high
            elif start.offset < low or start.offset > high:
                start.offset = low
            position[start.partition], ends[start.partition] = start.offset, high - 1
        consumer.assign(starts)
        deadline = time.monotonic() + 60
        while True:
            message = consumer.poll(1.0)
            if message is None:
                if all(position[n] >= ends[n] for n in ends):
                    break
                if time.monotonic() > deadline:
                    raise PublishError(f"{topic}: could not read back the pending results")
                continue
            if message.error():
                continue
            position[message.partition()] = message.offset() + 1
            for record in decode(message.value()):
                found |= {(record["candid"], f["filter_id"]) for f in record["filters"]
                          } & wanted
    finally:
        consumer.close()
    return found


def recent_results(valkey: redis.Redis, filter_id: str, since_ms: int = 0,
                   limit: int = 100) -> list[dict[str, Any]]:
    """What passed ``filter_id`` since ``since_ms`` (ms since the epoch, by publication
    time), oldest first, at most ``limit``: each the stream entry plus its ``id``."""
    entries = valkey.xrange(stream_key(filter_id), min=str(int(since_ms)), max="+",
                            count=int(limit))
    results = []
    for entry_id, fields in entries:
        data = fields.get(b"data") if b"data" in fields else fields.get("data")
        value = json.loads(data)
        value["id"] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        results.append(value)
    return results


def recent_errors(valkey: redis.Redis, survey: str, limit: int = 100) -> list[dict[str, Any]]:
    """The latest evaluation errors of ``survey``'s filters, newest first."""
    entries = valkey.xrevrange(error_log_key(survey), count=int(limit))
    return [json.loads(fields[b"data"]) for _, fields in entries]


def connection_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Only how to reach the brokers (address, security) of a producer's settings: what
    an admin client or the read-back consumer may share with it."""
    return {k: v for k, v in config.items()
            if k == "bootstrap.servers" or k.startswith(("security.", "sasl.", "ssl."))}


def ensure_topic(config: Mapping[str, Any], topic: str, partitions: int = 1) -> None:
    """Create ``topic`` unless it exists (brokers need not auto-create topics)."""
    admin = AdminClient(connection_config(config))
    if topic in admin.list_topics(timeout=10).topics:
        return
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        try:
            future.result(10)
        except confluent_kafka.KafkaException as error:
            if error.args[0].code() != confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                raise
