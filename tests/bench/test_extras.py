"""The benchmark's filters against the real servers: created active, their results'
times read from the Valkey streams, and everything removed afterwards."""

from __future__ import annotations

import json

import pymongo
import redis

from boom_flow.bench.extras import (
    DEMO_FILTER,
    Setup,
    create_filters,
    drop_database,
    drop_filter_outputs,
    filter_result_times,
)
from boom_flow.config import Settings


def test_filters_results_and_cleanup(settings: Settings, mongo_db: pymongo.database.Database,
                                     valkey: redis.Redis) -> None:
    ids = create_filters(settings, 2, json.dumps(DEMO_FILTER), "bench test")
    stored = list(mongo_db["filters"].find({"_id": {"$in": ids}}))
    assert len(stored) == 2 and all(f["active"] and f["survey"] == "ZTF" for f in stored)
    assert {f["name"] for f in stored} == {"bench test #1", "bench test #2"}
    # Results as the publisher writes them: one entry per (alert, filter), the entry's
    # id being the server's time in ms.
    valkey.xadd(f"filter:{ids[0]}:results", {"data": json.dumps({"candid": 7})}, id="1000-0")
    valkey.xadd(f"filter:{ids[1]}:results", {"data": json.dumps({"candid": 9})}, id="50-0")
    valkey.xadd(f"filter:{ids[1]}:results", {"data": json.dumps({"candid": 7})}, id="900-0")
    valkey.xadd(f"filter:{ids[1]}:results", {"data": json.dumps({"candid": 8})}, id="1200-0")
    valkey.set(f"boom_flow:results:ZTF:{ids[1]}:8", 1)
    setup = Setup(settings, filter_ids=ids)
    # Each alert's first result after the start (candid 9 came before it).
    assert filter_result_times(settings, setup, since_ms=100) == {7: 900.0, 8: 1200.0}
    drop_filter_outputs(settings, ids)
    assert not any(valkey.exists(f"filter:{i}:results") for i in ids)
    assert not valkey.exists(f"boom_flow:results:ZTF:{ids[1]}:8")
    drop_database(settings)
    assert settings.services.mongodb.database not in mongo_db.client.list_database_names()
