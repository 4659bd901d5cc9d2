"""Publishing results to the real broker and Valkey: records, streams, no duplicates."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import confluent_kafka
import pandas as pd
import pytest
import redis
from pymongo.database import Database

from boom_flow.config import Settings
from boom_flow.core import AlertBatch
from boom_flow.filters.evaluate import ERRORS
from boom_flow.filters.ledger import PublicationLedger
from boom_flow.filters.publish import (
    ResultsPublisher,
    error_counts_key,
    error_log_key,
    marks_key,
    passes_key,
    recent_errors,
    recent_results,
    retry_through_outages,
)
from boom_flow.filters.results import decode, encode, result_records, stream_entries, stream_key
from boom_flow.pipeline.resources import Connections, close
from boom_flow.stages import configure_stage, set_up
from boom_flow.stages.filter import filter_batch
from boom_flow.stages.publish import PublishStage
from tests.filters.helpers import active, with_forced_programids
from tests.filters.kafka import TopicReader
from tests.storage.helpers import candid, ztf_batch

PIPELINE = [{"$match": {"candidate.magpsf": {"$gt": 0}}},
            {"$project": {"objectId": 1, "annotations.mag": "$candidate.magpsf"}}]


def _ready_stage(settings: Settings) -> tuple[PublishStage, object]:
    stage = configure_stage(settings, "ztf", "publish", {"stream_maxlen": 1000})
    resources = Connections.from_settings(settings).open(stage.needs)
    ready = set_up(stage, resources)
    assert isinstance(ready, PublishStage)
    return ready, resources


@pytest.fixture
def publisher(settings: Settings, mongo_db: Database) -> Iterator[ResultsPublisher]:
    ready, resources = _ready_stage(settings)
    yield ready.publisher
    close(resources)


def _dead_producer(timeout_ms: int) -> confluent_kafka.Producer:
    return confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:1",
                                     "message.timeout.ms": timeout_ms})


@pytest.fixture
def reader(settings: Settings) -> Iterator[TopicReader]:
    reader = TopicReader(settings)
    yield reader
    reader.close()


def _filtered(ids: list[str], epochs: list[tuple[int, int]]) -> AlertBatch:
    scores = [{"acai_h": 0.25 * (i % 4), "btsbot": 0.5} for i in range(len(epochs))]
    batch = with_forced_programids(ztf_batch(epochs, enrichments={"classifications": scores}))
    filters = [active(i, PIPELINE, programids=[1, 2] if n else [1]) for n, i in enumerate(ids)]
    return filter_batch(batch, filters, now_ms=1_700_000_000_000)


def test_records_reach_the_topic_and_the_streams_once(
        publisher: ResultsPublisher, reader: TopicReader, valkey: redis.Redis) -> None:
    ids = [uuid.uuid4().hex, uuid.uuid4().hex]
    # Object 5 at epochs 0..3 (epoch 2 is programid 2: only the second filter passes it).
    batch = _filtered(ids, [(5, j) for j in range(4)])
    summary = publisher(batch)
    assert (summary.records, summary.passes, summary.repeated) == (4, 7, 0)
    messages = reader.read(expected=4, filter_ids=ids)
    assert len(messages) == 4
    by_candid = {record["candid"]: (key, record) for key, record in messages}
    assert set(by_candid) == {candid(5, j) for j in range(4)}
    key, record = by_candid[candid(5, 3)]
    row = 3
    assert key == batch.alerts["objectId"].iloc[row].encode()
    assert record["objectId"] == batch.alerts["objectId"].iloc[row]
    assert record["survey"] == "ZTF"
    assert (record["jd"], record["ra"], record["dec"]) == tuple(
        float(batch.candidates[c].iloc[row]) for c in ("jd", "ra", "dec"))
    assert [f["filter_id"] for f in record["filters"]] == ids
    assert record["filters"][0]["passed_at"] == 1_700_000_000_000
    assert json.loads(record["filters"][0]["annotations"]) == {
        "mag": float(batch.candidates["magpsf"].iloc[row])}
    assert record["classifications"] == [{"classifier": "acai_h", "score": 0.75},
                                         {"classifier": "btsbot", "score": 0.5}]
    # Both filters passed it, one may see programid 1 only: so may the record's light curve.
    assert {p["programid"] for p in record["photometry"]} == {1}
    assert [p["origin"] for p in record["photometry"]].count("forced") > 0
    assert record["photometry"] == sorted(record["photometry"],
                                          key=lambda p: (p["jd"], p["origin"]))
    assert record["cutoutScience"] == b"sci3" and record["cutoutDifference"] == b"diff"
    _, partner_only = by_candid[candid(5, 2)]
    assert [f["filter_id"] for f in partner_only["filters"]] == [ids[1]]
    assert {p["programid"] for p in partner_only["photometry"]} == {1, 2}

    assert valkey.xlen(stream_key(ids[0])) == 3 and valkey.xlen(stream_key(ids[1])) == 4
    entries = recent_results(valkey, ids[1], since_ms=0, limit=10)
    assert [e["candid"] for e in entries] == [candid(5, j) for j in range(4)]
    assert entries[0]["annotations"] == {"mag": float(batch.candidates["magpsf"].iloc[0])}
    assert entries[0]["classifications"] == {"acai_h": 0.0, "btsbot": 0.5}
    assert recent_results(valkey, ids[1], since_ms=0, limit=2)[-1]["candid"] == candid(5, 1)
    assert valkey.ttl(marks_key("ZTF", candid(5, 0))) > 0
    assert valkey.hmget(passes_key("ZTF"), ids) == [b"3", b"4"]

    # Redelivered (a restart before the commit): nothing is published again.
    again = publisher(_filtered(ids, [(5, j) for j in range(4)]))
    assert (again.records, again.repeated) == (0, 7)
    assert reader.read(expected=0, filter_ids=ids) == []
    assert valkey.xlen(stream_key(ids[0])) == 3 and valkey.xlen(stream_key(ids[1])) == 4
    assert valkey.hmget(passes_key("ZTF"), ids) == [b"3", b"4"]

    # A filter added since: only the new pairs go out, in records naming it alone.
    late = uuid.uuid4().hex
    third = publisher(_filtered([*ids, late], [(5, j) for j in range(4)]))
    assert (third.records, third.passes, third.repeated) == (4, 4, 7)
    assert {tuple(f["filter_id"] for f in r["filters"])
            for _, r in reader.read(expected=4, filter_ids=[*ids, late])} == {(late,)}


def test_evaluation_errors_are_counted_and_kept(publisher: ResultsPublisher,
                                                valkey: redis.Redis) -> None:
    filter_id = uuid.uuid4().hex
    batch = ztf_batch([(6, 0), (6, 1)])
    errors = [None, [{"filter_id": filter_id, "fid": "v1", "reason": "EvaluationError: x"}]]
    batch = batch.with_enrichment(ERRORS, pd.Series(errors, dtype=object))
    assert publisher(batch).errors == 1
    assert valkey.hget(error_counts_key("ZTF"), filter_id) == b"1"
    latest = recent_errors(valkey, "ZTF", limit=5)[0]
    assert latest == {"filter_id": filter_id, "fid": "v1", "candid": candid(6, 1),
                      "objectId": batch.alerts["objectId"].iloc[1],
                      "reason": "EvaluationError: x"}
    # The batch redelivered (a restart before the commit): nothing is counted twice.
    logged = valkey.xlen(error_log_key("ZTF"))
    assert publisher(batch).errors == 0
    assert valkey.hget(error_counts_key("ZTF"), filter_id) == b"1"
    assert valkey.xlen(error_log_key("ZTF")) == logged
    # A new version failing on the same alert is a new error.
    errors[1] = [{"filter_id": filter_id, "fid": "v2", "reason": "EvaluationError: y"}]
    again = batch.with_enrichment(ERRORS, pd.Series(errors, dtype=object))
    assert publisher(again).errors == 1
    assert valkey.hget(error_counts_key("ZTF"), filter_id) == b"2"


def test_undelivered_results_fail_the_batch_and_reach_no_stream(
        settings: Settings, valkey: redis.Redis, mongo_db: Database) -> None:
    publisher = ResultsPublisher(_dead_producer(500), valkey,
                                 PublicationLedger(mongo_db, "ZTF"), "ZTF", flush_timeout_s=3)
    filter_id = uuid.uuid4().hex
    batch = _filtered([filter_id], [(7, 0)])
    assert len(result_records(batch)) == 1
    with pytest.raises(RuntimeError, match="undelivered"):
        publisher(batch)
    assert valkey.hget(marks_key("ZTF", candid(7, 0)), filter_id) != b"done"
    assert valkey.xlen(stream_key(filter_id)) == 0
    # Not marked delivered without Kafka's confirmation (issue 16, defect 4).
    state = PublicationLedger(mongo_db, "ZTF").states([candid(7, 0)])[(candid(7, 0), filter_id)]
    assert state.startswith("pending:")


def test_a_record_keeps_an_integer_object_id_and_null_cutouts() -> None:
    record = {"candid": 2**62 + 1, "objectId": 3068394670028800017, "jd": 2460000.5,
              "ra": 10.0, "dec": -5.0, "survey": "LSST",
              "filters": [{"filter_id": "f", "filter_name": "n", "passed_at": 1,
                           "annotations": "{}"}],
              "classifications": [],
              "photometry": [{"jd": 2460000.5, "flux": 12.5, "flux_err": None, "band": "r",
                              "origin": "alert", "programid": None, "survey": "LSST",
                              "ra": 10.0, "dec": -5.0}],
              "cutoutScience": None, "cutoutTemplate": None, "cutoutDifference": b"x"}
    assert decode(encode(record)) == [record]
    solar_system = {**record, "objectId": None}
    assert decode(encode(solar_system)) == [solar_system]


class _Crash(RuntimeError):
    pass


def test_a_crash_after_kafka_and_before_the_stream_repeats_nothing(
        publisher: ResultsPublisher, reader: TopicReader, valkey: redis.Redis) -> None:
    ids = [uuid.uuid4().hex]
    batch = _filtered(ids, [(8, 0), (8, 1)])

    def crash(_records: object) -> None:
        raise _Crash("worker killed after the flush")

    publisher._finish = crash  # type: ignore[method-assign]
    with pytest.raises(_Crash):
        publisher(batch)
    del publisher._finish
    assert len(reader.read(expected=2, filter_ids=ids)) == 2  # Kafka had them
    assert valkey.xlen(stream_key(ids[0])) == 0
    assert publisher.ledger.states([candid(8, 0)])[(candid(8, 0), ids[0])].startswith(
        "pending:") or publisher.ledger.states([candid(8, 0)])[(candid(8, 0), ids[0])] == (
        "delivered")
    redelivered = publisher(_filtered(ids, [(8, 0), (8, 1)]))
    assert redelivered.records == 0
    assert reader.read(expected=0, filter_ids=ids) == []
    assert valkey.xlen(stream_key(ids[0])) == 2
    assert valkey.hget(marks_key("ZTF", candid(8, 1)), ids[0]) == b"done"


def test_a_crash_before_kafka_had_them_publishes_them_on_redelivery(
        settings: Settings, publisher: ResultsPublisher, reader: TopicReader,
        valkey: redis.Redis) -> None:
    ids = [uuid.uuid4().hex]
    crashed = ResultsPublisher(_dead_producer(300), valkey, publisher.ledger, "ZTF",
                               flush_timeout_s=2, consumer_config=publisher.consumer_config)
    with pytest.raises(RuntimeError, match="undelivered"):
        crashed(_filtered(ids, [(9, 0)]))
    assert publisher.ledger.states([candid(9, 0)])[(candid(9, 0), ids[0])].startswith(
        "pending:")
    redelivered = publisher(_filtered(ids, [(9, 0)]))
    assert (redelivered.records, redelivered.passes) == (1, 1)
    assert [r["candid"] for _, r in reader.read(expected=1, filter_ids=ids)] == [candid(9, 0)]
    assert valkey.xlen(stream_key(ids[0])) == 1


def test_losing_valkey_publishes_nothing_twice(
        publisher: ResultsPublisher, reader: TopicReader, valkey: redis.Redis) -> None:
    """Issue 16, defect 3: after a Valkey restart without its data, re-reading a
    processed night published every pass again. The ledger is in MongoDB now."""
    ids = [uuid.uuid4().hex]
    epochs = [(10, 0), (10, 1), (10, 3)]  # epoch 2 is programid 2: not for this filter
    assert publisher(_filtered(ids, epochs)).records == 3
    assert len(reader.read(expected=3, filter_ids=ids)) == 3
    for key in [stream_key(ids[0]), passes_key("ZTF"),
                *(marks_key("ZTF", candid(*e)) for e in epochs)]:
        valkey.delete(key)  # what a restart without persistence leaves
    again = publisher(_filtered(ids, epochs))
    assert (again.records, again.passes) == (0, 0)
    assert reader.read(expected=0, filter_ids=ids) == []
    # The stream is a cache: rebuilt for what was re-read, once.
    assert valkey.xlen(stream_key(ids[0])) == 3
    assert publisher(_filtered(ids, epochs)).records == 0
    assert valkey.xlen(stream_key(ids[0])) == 3


def test_the_publisher_waits_through_a_valkey_outage(
        settings: Settings, mongo_db: Database, reader: TopicReader) -> None:
    """Issue 16, defect 3: a Valkey outage crashed the run; now the batch waits."""
    ready, resources = _ready_stage(settings)
    sink = ready.publisher
    real = sink.valkey
    sink.valkey = redis.Redis(host="127.0.0.1", port=1)  # Valkey away
    ids = [uuid.uuid4().hex]
    restored: list[float] = []

    def back_soon(delay: float) -> None:
        restored.append(delay)
        sink.valkey = real  # Valkey is back after the first wait
        time.sleep(delay)

    summary = retry_through_outages(lambda: sink._publish(_filtered(ids, [(11, 0)])),
                                    30, "test", sleep=back_soon)
    assert restored and summary.records == 1
    assert len(reader.read(expected=1, filter_ids=ids)) == 1
    assert real.xlen(stream_key(ids[0])) == 1
    sink.valkey = redis.Redis(host="127.0.0.1", port=1)
    with pytest.raises(redis.ConnectionError):
        retry_through_outages(lambda: sink._publish(_filtered(ids, [(11, 1)])), 0, "test")
    close(resources)


def test_a_stream_entry_is_the_alert_and_one_filter_s_pass_as_compact_json() -> None:
    record = {"candid": 7, "objectId": "ZTF24aaaaaaa", "jd": 2460507.75, "ra": 10.5,
              "dec": -3.25, "survey": "ZTF",
              "filters": [{"filter_id": "f1", "filter_name": "Süd", "passed_at": 1700000000000,
                           "annotations": '{"mag":18.5,"tags":["a",null]}'},
                          {"filter_id": "f2", "filter_name": "two", "passed_at": 1700000000001,
                           "annotations": "{}"}],
              "classifications": [{"classifier": "btsbot", "score": 0.25}]}
    alert = {k: record[k] for k in ("candid", "objectId", "jd", "ra", "dec", "survey")}
    expected = [{**alert, "filter_id": p["filter_id"], "filter_name": p["filter_name"],
                 "passed_at": p["passed_at"], "annotations": json.loads(p["annotations"]),
                 "classifications": {"btsbot": 0.25}} for p in record["filters"]]
    assert stream_entries(record) == [json.dumps(e, separators=(",", ":")) for e in expected]
