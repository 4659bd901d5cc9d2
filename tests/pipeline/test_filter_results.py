"""End to end: a night replayed through the Dask pipeline with 25 active filters, the
results read back from the real broker and Valkey; redelivery publishes nothing twice;
a filter change is picked up while the night runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
import redis

from boom_flow.config import Settings
from boom_flow.core import RawPacket
from boom_flow.core.batch import RawBatch
from boom_flow.filters.results import stream_key
from boom_flow.filters.store import FilterStore
from boom_flow.pipeline.graph import GraphSpec, SourceSpec, StageSpec
from boom_flow.pipeline.run import make_plan, run_pipeline
from boom_flow.pipeline.worker import BatchOutcome, process_batch
from boom_flow.storage import ensure_indexes
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

    # The whole night again (a restart that re-reads everything): no result is published
    # twice; only the late filter's passes on the alerts it had not seen yet go out.
    run_pipeline(pipeline_settings, _graph(shared_data / "ztf"), client=dask_client)
    again = [record for _, record in reader.read(len(expected - late), filter_ids=mine)]
    assert all([f["filter_id"] for f in r["filters"]] == [changed["late"]] for r in again)
    assert sorted(r["candid"] for r in again) == sorted(expected - late)
    for filter_id in ids:
        assert valkey.xlen(stream_key(filter_id)) == len(expected)
    assert valkey.xlen(stream_key(changed["late"])) == len(expected)


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
    assert [name for name, _ in plan.sinks] == ["filter_results"]
    # The worker dies after the write, before publishing: simulated by a plan without sinks.
    crashed = process_batch(RawBatch(packets), dataclasses.replace(plan, sinks=()))
    assert crashed.error is None and crashed.stored == len({p.source for p in packets})
    assert reader.read(expected=0, filter_ids=[filter_id]) == []
    redelivered = process_batch(RawBatch(packets), plan)
    assert redelivered.error is None and redelivered.stored == 0  # all already stored
    expected = _expected(mongo_db, shared_data)
    published = reader.read(expected=len(expected), filter_ids=[filter_id])
    assert sorted(r["candid"] for _, r in published) == sorted(expected)
    assert valkey.xlen(stream_key(filter_id)) == len(expected)
