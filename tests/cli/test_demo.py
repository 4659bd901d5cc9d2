"""``boom-flow demo`` as a user runs it: against the running services, with no data and
no models beside the checkout, it replays a simulated night and reports what the
archive and the filter streams then hold."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pymongo
import redis

from tests.conftest import child_environ

N_ALERTS = 120


def _number(label: str, output: str) -> int:
    match = re.search(rf"{label}:\s+([\d,]+)", output)
    assert match, output
    return int(match.group(1).replace(",", ""))


def test_demo_replays_a_simulated_night_and_reports(
        environment: dict[str, str], mongo_db: pymongo.database.Database, valkey: redis.Redis,
        tmp_path: Path) -> None:
    env = {**child_environ(), **environment, "BOOM_FLOW_DASK__N_WORKERS": "1",
           # A fresh machine: no classifier models anywhere.
           "BOOM_FLOW_MODELS__MODELS_DIR": str(tmp_path / "no-models")}
    process = subprocess.run(
        [sys.executable, "-m", "boom_flow", "demo", "--alerts", str(N_ALERTS),
         "--catalog-rows", "3000", "--graph", str(Path(__file__).parents[2] / "graphs/ztf.yaml")],
        env=env, capture_output=True, text=True, timeout=150, cwd=tmp_path,
    )
    output = process.stdout
    assert process.returncode == 0, output + process.stderr
    assert _number("alerts", output) == N_ALERTS
    assert mongo_db["ZTF_alerts"].count_documents({}) == N_ALERTS
    assert f"{N_ALERTS:,} stored" in output
    # The filter passes reported are the demo filter's results in its Valkey stream.
    demo_filter = mongo_db["filters"].find_one({"user_id": "demo"})
    assert demo_filter is not None and demo_filter["active"]
    entries = valkey.xrange(f"filter:{demo_filter['_id']}:results")
    stored = {d["_id"] for d in mongo_db["ZTF_alerts"].find({}, {"_id": 1})}
    passed = {json.loads(fields[b"data"])["candid"] for _, fields in entries} & stored
    assert _number("filter passes", output) == len(passed) > 0
    # Matches: the new objects near a galaxy, as the archive's aux documents say.
    matched = sum(bool((d.get("cross_matches") or {}).get("galaxies"))
                  for d in mongo_db["ZTF_alerts_aux"].find({}, {"cross_matches": 1}))
    assert matched > 0
    assert re.search(rf"matches:\s+{matched:,} of [\d,]+ objects lie near", output), output
    assert "no classifier model" in output
    assert "boom-flow api" in output and "http://127.0.0.1:4000/docs" in output
    assert f"boom-flow filters results {demo_filter['_id']}" in output
