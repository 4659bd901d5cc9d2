"""The live provider: one GET per batch, reload on a notice, compiled once per version."""

from __future__ import annotations

import pytest
import redis
from pymongo.database import Database
from redis.backoff import NoBackoff
from redis.retry import Retry

from boom_flow.filters.live import LiveFilters
from boom_flow.filters.store import COLLECTION, FilterStore, generation_key

PIPELINE = [{"$match": {"candidate.drb": {"$gt": 0.5}}}, {"$project": {"objectId": 1}}]


@pytest.fixture
def store(mongo_db: Database, valkey: redis.Redis) -> FilterStore:
    valkey.delete(generation_key("ZTF"))
    return FilterStore(mongo_db, valkey)


def _create(store: FilterStore, name: str) -> dict:
    return store.create(name=name, survey="ZTF", user_id="u", permissions={"ZTF": [1]},
                        pipeline=PIPELINE)


def test_changes_are_picked_up_at_the_next_batch_without_a_restart(
        store: FilterStore, mongo_db: Database, valkey: redis.Redis) -> None:
    first = _create(store, "first")
    live = LiveFilters(mongo_db[COLLECTION], valkey, "ztf", reload_s=3600)
    assert [f.name for f in live()] == ["first"]
    compiled = live()[0]
    assert live.reloads == 1  # unchanged generation: no read of MongoDB
    second = _create(store, "second")
    assert sorted(f.name for f in live()) == ["first", "second"]
    assert live.reloads == 2
    assert next(f for f in live() if f.name == "first") is compiled  # not compiled again
    store.deactivate(first["_id"])
    assert [f.name for f in live()] == ["second"]
    version = store.add_version(second["_id"], PIPELINE)
    (current,) = live()
    assert current.fid == version["fid"]
    store.update(second["_id"], permissions={"ZTF": [1, 2]})
    assert live()[0].programids == (1, 2)


def test_without_a_notice_the_filters_are_reread_after_reload_s(
        store: FilterStore, mongo_db: Database) -> None:
    now = [0.0]
    silent = FilterStore(mongo_db)  # changes without a Valkey notice
    live = LiveFilters(mongo_db[COLLECTION], None, "ZTF", reload_s=30, clock=lambda: now[0])
    assert live() == []
    _create(silent, "quiet")
    now[0] = 10.0
    assert live() == []
    now[0] = 31.0
    assert [f.name for f in live()] == ["quiet"]


def test_a_filter_that_cannot_compile_is_left_out(store: FilterStore,
                                                  mongo_db: Database, valkey: redis.Redis
                                                  ) -> None:
    _create(store, "good")
    broken = _create(store, "broken")
    mongo_db[COLLECTION].update_one(  # written behind the store's back
        {"_id": broken["_id"]}, {"$set": {"fv.0.pipeline": [{"$where": "1"}]}})
    live = LiveFilters(mongo_db[COLLECTION], valkey, "ZTF")
    assert [f.name for f in live()] == ["good"]


def test_an_unreachable_valkey_keeps_the_loaded_filters(store: FilterStore,
                                                        mongo_db: Database) -> None:
    _create(store, "kept")
    offline = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    live = LiveFilters(mongo_db[COLLECTION], offline, "ZTF", reload_s=3600)
    assert [f.name for f in live()] == ["kept"]
    assert [f.name for f in live()] == ["kept"] and live.reloads == 1
