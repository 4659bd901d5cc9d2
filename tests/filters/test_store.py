"""The filters collection: creation, versions, activation, validation, notices."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import redis
from pymongo.database import Database
from redis.backoff import NoBackoff
from redis.retry import Retry

from boom_flow.filters.mql import PipelineError
from boom_flow.filters.store import FilterNotFound, FilterStore, generation_key

PIPELINE = [{"$match": {"candidate.drb": {"$gt": 0.5}}},
            {"$project": {"objectId": 1, "annotations.drb": "$candidate.drb"}}]


@pytest.fixture
def store(mongo_db: Database, valkey: redis.Redis) -> FilterStore:
    return FilterStore(mongo_db, valkey)


def _create(store: FilterStore, **overrides: object) -> dict:
    fields = {"name": "bright", "survey": "ztf", "user_id": "ada",
              "permissions": {"ZTF": [2, 1]}, "pipeline": PIPELINE, **overrides}
    return store.create(**fields)  # type: ignore[arg-type]


def test_a_created_filter_is_stored_as_filters_md_says(store: FilterStore,
                                                       mongo_db: Database) -> None:
    created = _create(store, description="drb cut")
    stored = mongo_db.filters.find_one({"_id": created["_id"]})
    assert stored is not None
    assert uuid.UUID(stored["_id"])
    assert {k: stored[k] for k in ("name", "description", "survey", "user_id", "permissions",
                                   "active")} == {
        "name": "bright", "description": "drb cut", "survey": "ZTF", "user_id": "ada",
        "permissions": {"ZTF": [1, 2]}, "active": True}
    (version,) = stored["fv"]
    assert version["fid"] == stored["active_fid"] and version["pipeline"] == PIPELINE
    assert isinstance(stored["created_at"], dt.datetime)
    assert stored["created_at"] == stored["updated_at"] == version["created_at"]
    assert {tuple(i["key"].items()) for i in mongo_db.filters.list_indexes()} >= {
        (("active", 1), ("survey", 1))}
    assert store.get(created["_id"])["name"] == "bright"


def test_versions_activation_and_updates(store: FilterStore) -> None:
    created = _create(store)
    first = created["active_fid"]
    second = store.add_version(created["_id"], json.dumps(
        [*PIPELINE[:1], {"$project": {"objectId": 1}}]))
    current = store.get(created["_id"])
    assert [v["fid"] for v in current["fv"]] == [first, second["fid"]]
    assert current["active_fid"] == second["fid"]
    assert current["updated_at"] > created["updated_at"]
    store.activate(created["_id"], first)
    assert store.get(created["_id"])["active_fid"] == first
    store.deactivate(created["_id"])
    assert store.get(created["_id"])["active"] is False
    assert store.active_filters("ZTF") == []
    store.activate(created["_id"])
    (active,) = store.active_filters("ztf")
    assert (active.filter_id, active.fid, active.programids) == (created["_id"], first, (1, 2))
    renamed = store.update(created["_id"], name="brighter", permissions={"ZTF": [1]})
    assert renamed["name"] == "brighter" and renamed["permissions"] == {"ZTF": [1]}
    with pytest.raises(ValueError, match="cannot update fv"):
        store.update(created["_id"], fv=[])
    with pytest.raises(FilterNotFound):
        store.activate(created["_id"], "no-such-version")
    with pytest.raises(FilterNotFound):
        store.deactivate("no-such-filter")
    with pytest.raises(FilterNotFound):
        store.add_version("no-such-filter", PIPELINE)


def test_list_selects_by_owner_survey_and_state(store: FilterStore) -> None:
    a = _create(store, name="a")
    _create(store, name="b", user_id="grace", active=False)
    _create(store, name="c", survey="LSST", permissions={})
    assert [f["name"] for f in store.list()] == ["a", "b", "c"]
    assert [f["name"] for f in store.list(user_id="grace")] == ["b"]
    assert [f["name"] for f in store.list(survey="ztf", active=True)] == ["a"]
    assert [f["_id"] for f in store.list(survey="ZTF", active=True)] == [a["_id"]]


@pytest.mark.parametrize(("pipeline", "operator", "where"), [
    ([{"$match": {"$where": "this.a > 1"}}, {"$project": {"objectId": 1}}],
     "$where", "pipeline[0].$match.$where"),
    ([{"$match": {"a": 1}}, {"$lookup": {"from": "users", "as": "u"}},
      {"$project": {"objectId": 1}}], "$lookup", "pipeline[1].$lookup"),
    ([{"$match": {"a": 1}}, {"$project": {"objectId": 1}}, {"$out": "stolen"}],
     "$out", "pipeline[2].$out"),
    ([{"$match": {"a": 1}}, {"$project": {"objectId": 1, "x": {"$frobnicate": 1}}}],
     "$frobnicate", "pipeline[1].$project.x.$frobnicate"),
])
def test_invalid_pipelines_are_refused_with_the_operator_and_its_place(
        store: FilterStore, mongo_db: Database, pipeline: list, operator: str,
        where: str) -> None:
    with pytest.raises(PipelineError) as refused:
        _create(store, pipeline=pipeline)
    assert refused.value.operator == operator
    assert operator in str(refused.value) and where in str(refused.value)
    good = _create(store)
    with pytest.raises(PipelineError):
        store.add_version(good["_id"], pipeline)
    assert [len(f["fv"]) for f in mongo_db.filters.find()] == [1]  # nothing invalid stored


def test_bad_json_and_bad_fields_are_refused(store: FilterStore, mongo_db: Database) -> None:
    with pytest.raises(PipelineError, match="not valid JSON"):
        _create(store, pipeline='[{"$match": {"a": 1}')
    with pytest.raises(ValueError, match="needs permissions"):
        _create(store, permissions={})
    with pytest.raises(ValueError, match="programids are 1, 2 or 3"):
        _create(store, permissions={"ZTF": [4]})
    with pytest.raises(ValueError, match="unknown survey"):
        _create(store, survey="decam")
    assert mongo_db.filters.count_documents({}) == 0


def test_every_change_bumps_the_surveys_generation(store: FilterStore,
                                                   valkey: redis.Redis) -> None:
    valkey.delete(generation_key("ZTF"), generation_key("LSST"))
    created = _create(store)
    assert valkey.get(generation_key("ZTF")) == b"1"
    store.add_version(created["_id"], PIPELINE)
    store.deactivate(created["_id"])
    store.update(created["_id"], description="x")
    assert valkey.get(generation_key("ZTF")) == b"4"
    assert valkey.get(generation_key("LSST")) is None


def test_a_store_without_valkey_still_works(mongo_db: Database) -> None:
    unreachable = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    offline = FilterStore(mongo_db, unreachable)
    created = offline.create(name="n", survey="ZTF", user_id="u", permissions={"ZTF": [1]},
                             pipeline=PIPELINE)
    assert offline.get(created["_id"]) is not None
