"""``/metrics`` of a running ``boom-flow replay`` moves while the night goes through:
alerts consumed and stored, rejections by reason, seconds per stage, filter passes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pymongo
import pytest
import redis

from boom_flow.config import load_settings
from boom_flow.filters.store import FilterStore
from boom_flow.simulate import NightSpec, write_night
from tests.conftest import free_port
from tests.metrics.scrape import Samples, scrape, total, value
from tests.processes import running, start

ALERTS = 120
GRAPH = """survey: ztf
source: {kind: files}
stages:
  - name: filter
"""


@pytest.mark.services
def test_counters_move_during_a_replay(environment: dict[str, str], mongo_db: pymongo.database
                                       .Database, tmp_path: Path) -> None:
    settings = load_settings(environ=environment)
    night = tmp_path / "night"
    write_night(NightSpec(n_alerts=ALERTS, seed=12), night)
    # Sorted first, so its rejection is counted early in the run.
    (night / "0000-junk.avro").write_bytes(b"not an avro container" * 10)
    graph = tmp_path / "graph.yaml"
    graph.write_text(GRAPH)
    valkey = redis.Redis.from_url(settings.services.valkey.connection_url)
    public = FilterStore(mongo_db, valkey).create(
        name=f"public-{uuid.uuid4().hex[:6]}", survey="ZTF", user_id="ada",
        permissions={"ZTF": [1, 2, 3]},
        pipeline=[{"$match": {"candidate.programid": 1}}, {"$project": {"objectId": 1}}])
    valkey.close()
    port = free_port()
    env = {**environment, "BOOM_FLOW_METRICS__PORT": str(port),
           "BOOM_FLOW_BATCH__MAX_ALERTS": "15", "BOOM_FLOW_DASK__N_WORKERS": "1"}
    replay = start("replay", ["boom-flow", "replay", str(night), "--survey", "ztf",
                              "--rate", "40", "--graph", str(graph)], env, tmp_path)
    url = f"http://127.0.0.1:{port}/metrics"
    scrapes: list[Samples] = []
    with running([replay]):
        replay.wait_http(url, seconds=120)
        while replay.alive():
            try:
                scrapes.append(scrape(url))
            except httpx.TransportError:
                break  # the run ended between the check and the scrape
            time.sleep(0.2)
        assert replay.wait_exit(60) == 0, replay.output()

    ztf = {"survey": "ztf"}
    consumed = [value(s, "boom_flow_alerts_consumed_total", **ztf) for s in scrapes]
    stored = [value(s, "boom_flow_alerts_stored_total", **ztf) for s in scrapes]
    assert consumed == sorted(consumed) and stored == sorted(stored)  # counters never fall
    assert len(set(stored)) >= 3, f"stored did not move during the replay: {stored}"
    last = scrapes[-1]
    archived = mongo_db["ZTF_alerts"].count_documents({})
    assert archived == ALERTS
    assert 0 < stored[-1] <= archived
    assert value(last, "boom_flow_alerts_rejected_total", reason="undecodable ZTF packet",
                 **ztf) == 1
    assert value(last, "boom_flow_alerts_existing_total", **ztf) == 0
    for stage in ("decode", "filter", "write"):
        assert value(last, "boom_flow_stage_seconds_count", stage=stage, **ztf) > 0, stage
    assert total(last, "boom_flow_batch_seconds_count", **ztf) > 0
    passes = value(last, "boom_flow_filter_passes_total", filter_id=public["_id"], **ztf)
    public_stored = mongo_db["ZTF_alerts"].count_documents({"candidate.programid": 1})
    assert 0 < passes <= public_stored
    assert value(last, "boom_flow_last_batch_timestamp_seconds", **ztf) > time.time() - 300
