"""End to end: a night replayed through the Dask pipeline with 25 active filters, the
results read back from the real broker and Valkey; redelivery publishes nothing twice
(a replay, a batch stored but not published, ``boom-flow run`` killed mid-night); a
filter change is picked up while the night runs."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import confluent_kafka
import pymongo
import pytest
import redis
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.config import Settings
from boom_flow.core import RawPacket
from boom_flow.core.batch import RawBatch
from boom_flow.filters.results import stream_key
from boom_flow.filters.store import FilterStore
from boom_flow.pipeline.graph import GraphSpec, SourceSpec, StageSpec
from boom_flow.pipeline.run import make_plan, run_pipeline
from boom_flow.pipeline.worker import BatchOutcome, Workbench
from boom_flow.storage import ensure_indexes
from tests.conftest import child_environ
from tests.filters.helpers import real_pipeline, server_results
from tests.filters.kafka import TopicReader
from tests.pipeline.conftest import ztf_packet_bytes

COPIES = 25


@pytest.fixture
def reader(pipeline_settings: Settings) -> Iterator[TopicReader]:
    reader = TopicReader(pipeline_settings)
    yield reader
    reader.close()


def _graph(path: Path) -> GraphSpec:
    return GraphSpec(survey="ztf", source=SourceSpec(kind="files", path=path),
                     stages=[StageSpec(name="filter")])


def _expected(db: pymongo.database.Database, shared: Path) -> set[int]:
    return set(server_results(db, "ZTF", real_pipeline(shared, "cats150.pipeline.json"),
                              (1, 2, 3)))


def test_a_night_with_25_filters_publishes_each_result_once(
        pipeline_settings: Settings, mongo_db: pymongo.database.Database,
        valkey: redis.Redis, dask_client: Any, shared_data: Path, reader: TopicReader,
) -> None:
    store = FilterStore(mongo_db, valkey)
    cats150 = real_pipeline(shared_data, "cats150.pipeline.json")
    ids = [store.create(name=f"cats150 #{i}", survey="ZTF", user_id="bench",
                        permissions={"ZTF": [1, 2, 3]}, pipeline=cats150)["_id"]
           for i in range(COPIES)]
    changed: dict[str, Any] = {}

    def change_filters_mid_night(outcome: BatchOutcome) -> None:
        if changed:
            return
        # Whatever is stored now went through the filter stage before the change.
        changed["stored"] = {d["_id"] for d in mongo_db.ZTF_alerts.find({}, {"_id": 1})}
        changed["late"] = store.create(name="late", survey="ZTF", user_id="u",
                                       permissions={"ZTF": [1]}, pipeline=cats150)["_id"]

    summary = run_pipeline(pipeline_settings, _graph(shared_data / "ztf"),
                           on_outcome=change_filters_mid_night, client=dask_client)
    assert summary.alerts > 100
    expected = _expected(mongo_db, shared_data)
    assert len(expected) > 20

    mine = [*ids, changed["late"]]
    messages = reader.read(expected=len(expected), filter_ids=mine)
    records = [record for _, record in messages]
    assert sorted(r["candid"] for r in records if len(r["filters"]) >= COPIES) == sorted(expected)
    for record in records:
        named = [f["filter_id"] for f in record["filters"]]
        assert len(set(named)) == len(named)
        assert set(named) - {changed["late"]} == set(ids), "every copy passed it"
        assert record["survey"] == "ZTF" and record["cutoutScience"][:2] == b"\x1f\x8b"
        stored = mongo_db.ZTF_alerts.find_one({"_id": record["candid"]})
        assert record["objectId"] == stored["objectId"]
        assert record["jd"] == stored["candidate"]["jd"]
        assert record["photometry"] and record["photometry"][-1]["jd"] <= record["jd"]
    assert len(records) == len(expected), "one record per passing alert"
    for filter_id in ids:
        assert valkey.xlen(stream_key(filter_id)) == len(expected)

    # The filter created mid-night ran on the batches after the change, without a restart.
    late = {r["candid"] for r in records if changed["late"] in
            [f["filter_id"] for f in r["filters"]]}
    assert late and late <= expected and not late & changed["stored"]



def test_a_batch_stored_but_not_published_is_published_when_redelivered(
        pipeline_settings: Settings, mongo_db: pymongo.database.Database,
        valkey: redis.Redis, shared_data: Path, reader: TopicReader) -> None:
    ensure_indexes(mongo_db, "ZTF")
    store = FilterStore(mongo_db, valkey)
    filter_id = store.create(name="cats150", survey="ZTF", user_id="u",
                             permissions={"ZTF": [1]},
                             pipeline=real_pipeline(shared_data, "cats150.pipeline.json"))["_id"]
    packets = tuple(RawPacket(data, source) for source, data in ztf_packet_bytes(shared_data))
    plan = make_plan(pipeline_settings, _graph(shared_data / "ztf"))
    assert plan.stage_names[-2:] == ["write", "publish"]
    # The worker dies after the write, before publishing: simulated by a plan that
    # stops at the write.
    crashing = dataclasses.replace(plan, stages=plan.stages[:-1])
    with closing(Workbench.open(crashing)) as workbench:
        crashed = workbench.process(RawBatch(packets))
    assert crashed.error is None and crashed.stored == len({p.source for p in packets})
    assert reader.read(expected=0, filter_ids=[filter_id]) == []
    # Its producer goes before the broker stops (closing).
    with closing(Workbench.open(plan)) as workbench:
        redelivered = workbench.process(RawBatch(packets))
    assert redelivered.error is None and redelivered.stored == 0  # all already stored
    expected = _expected(mongo_db, shared_data)
    published = reader.read(expected=len(expected), filter_ids=[filter_id])
    assert sorted(r["candid"] for _, r in published) == sorted(expected)
    assert valkey.xlen(stream_key(filter_id)) == len(expected)


def test_a_pipeline_killed_mid_night_publishes_every_result_once(
        environment: dict[str, str], pipeline_settings: Settings,
        mongo_db: pymongo.database.Database, valkey: redis.Redis, shared_data: Path,
        reader: TopicReader, tmp_path: Path) -> None:
    ensure_indexes(mongo_db, "ZTF")
    filter_id = FilterStore(mongo_db, valkey).create(
        name="cats150", survey="ZTF", user_id="u", permissions={"ZTF": [1, 2, 3]},
        pipeline=real_pipeline(shared_data, "cats150.pipeline.json"))["_id"]
    topic = f"t{uuid.uuid4().hex[:8]}_ztf_20240716_programid1"
    kafka = pipeline_settings.services.kafka
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result(10)
    producer = confluent_kafka.Producer(kafka.producer_config())
    for i, (_, data) in enumerate(ztf_packet_bytes(shared_data)):
        producer.produce(topic, data, partition=i % 3)
    assert producer.flush(30) == 0
    graph = tmp_path / "ztf.yaml"
    graph.write_text("survey: ztf\nsource:\n  kind: kafka\nstages:\n  - name: filter\n")
    env = {**child_environ(), **environment, "BOOM_FLOW_DASK__N_WORKERS": "1"}

    def start(idle_s: float, **overrides: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "boom_flow", "run", str(graph), "--topic", topic,
             "--until-idle", str(idle_s)], env={**env, **overrides},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)

    first = start(30, BOOM_FLOW_BATCH__MAX_ALERTS="4", BOOM_FLOW_BATCH__MAX_IN_FLIGHT="1")
    try:
        deadline = time.monotonic() + 90
        while valkey.xlen(stream_key(filter_id)) < 5:  # some results out, not all
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first run published nothing"
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    packets = sum(1 for _ in ztf_packet_bytes(shared_data))
    assert 0 < mongo_db.ZTF_alerts.count_documents({}) < packets, "not killed mid-night"
    output, _ = start(3).communicate(timeout=120)
    admin.delete_topics([topic], operation_timeout=10)
    expected = _expected(mongo_db, shared_data)
    assert valkey.xlen(stream_key(filter_id)) == len(expected), output
    published = [r["candid"] for _, r in reader.read(len(expected), filter_ids=[filter_id])]
    assert sorted(published) == sorted(expected), "each result exactly once"
