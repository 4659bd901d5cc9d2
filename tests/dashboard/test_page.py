"""The boom_flow page of a live run: ``boom-flow run`` as a real process over a Kafka
topic of simulated alerts, with a user filter; the page it prints answers, and every
data source fills from the run (then a headless-Chromium screenshot, where available)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
import httpx
import pymongo
import pytest
import redis
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.config import load_settings
from boom_flow.filters.store import FilterStore
from boom_flow.simulate import NightSpec, simulate_night
from tests.browser import colours, ink, screenshot

pytestmark = pytest.mark.services

ALERTS = 120
PARTITIONS = 3
#: Passes every positive alert: most of a simulated night.
FILTER = [{"$match": {"candidate.isdiffpos": True}}, {"$project": {"objectId": 1}}]
SOURCES = ("rates", "stages", "latency", "lag", "filters", "memory", "summary")


@dataclass
class LiveRun:
    page: str
    topic: str
    filter_id: str
    process: subprocess.Popen[str]


def _produce(bootstrap: str, config: dict[str, Any], topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result(10)
    producer = confluent_kafka.Producer(config)
    for i, alert in enumerate(simulate_night(NightSpec(n_alerts=ALERTS, seed=11))):
        producer.produce(topic, alert.packet, partition=i % PARTITIONS)
    assert producer.flush(30) == 0


def _page_address(process: subprocess.Popen[str], timeout_s: float = 120) -> str:
    """The address ``boom-flow run`` prints (stderr, merged into stdout here)."""
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        found = re.search(r"boom_flow dashboard: (http://\S+/boom_flow)", line)
        if found:
            # Keep reading what it prints, so a full pipe never blocks it.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return found.group(1)
    raise AssertionError("boom-flow run printed no dashboard address")


@pytest.fixture(scope="module")
def live_run(stack_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[LiveRun]:
    environment = {**stack_environment,
                   "BOOM_FLOW_SERVICES__MONGODB__DATABASE": f"page_{uuid.uuid4().hex[:10]}",
                   "BOOM_FLOW_DASK__N_WORKERS": "1", "BOOM_FLOW_BATCH__MAX_ALERTS": "20"}
    settings = load_settings(environ=environment)
    mongo = pymongo.MongoClient(settings.services.mongodb.connection_uri)
    valkey = redis.Redis.from_url(settings.services.valkey.connection_url)
    db = mongo[settings.services.mongodb.database]
    filter_id = FilterStore(db, valkey).create(
        name="page test", survey="ZTF", user_id="test", permissions={"ZTF": [1, 2, 3]},
        pipeline=FILTER)["_id"]
    topic = f"t{uuid.uuid4().hex[:8]}_page"
    _produce(settings.services.kafka.bootstrap, settings.services.kafka.producer_config(), topic)
    graph = tmp_path_factory.mktemp("page") / "ztf.yaml"
    graph.write_text("survey: ztf\nsource:\n  kind: kafka\nstages:\n  - name: filter\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "boom_flow", "run", str(graph), "--topic", topic,
         "--until-idle", "600"],
        env={**os.environ, **environment}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
        yield LiveRun(_page_address(process), topic, filter_id, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # stops cleanly: batches in flight finish
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        mongo.drop_database(settings.services.mongodb.database)
        mongo.close()
        valkey.close()


def _source(run: LiveRun, name: str) -> Any:
    response = httpx.get(f"{run.page}/data/{name}.json", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _when_filled(run: LiveRun, timeout_s: float = 240) -> dict[str, Any]:
    """Every source once the whole night is in and a lag sample arrived."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = {name: _source(run, name) for name in SOURCES}
        if data["summary"]["packets"] >= ALERTS and data["lag"]["partition"]:
            return data
        time.sleep(1)
    raise AssertionError(f"the page's sources did not fill: {json.dumps(data)[:2000]}")


def test_page_answers_with_its_figures_and_bokehjs(live_run: LiveRun) -> None:
    page = httpx.get(live_run.page, timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "boom_flow/data/all.json" in page.text
    for name in SOURCES[:-1]:  # the figures' sources, refilled from all.json
        assert f'"name":"boom_flow_{name}"' in page.text.replace(" ", "")
    bokeh = httpx.get(live_run.page.rsplit("/", 1)[0] + "/boom_flow/static/js/bokeh.min.js",
                      timeout=30)
    assert bokeh.status_code == 200 and len(bokeh.content) > 100_000
    assert httpx.get(f"{live_run.page}/data/nothing.json", timeout=30).status_code == 404


def test_every_data_source_fills_from_the_run(live_run: LiveRun) -> None:
    data = _when_filled(live_run)
    snapshot = _source(live_run, "all")
    assert set(snapshot["sources"]) == set(SOURCES) - {"summary"}
    assert snapshot["summary"]["alerts"] == data["summary"]["alerts"]
    summary = data["summary"]
    assert summary["alerts"] == ALERTS and summary["stored"] == ALERTS
    assert summary["rejected"] == 0 and summary["failed_batches"] == 0
    assert summary["batches"] >= ALERTS // 20 and summary["workers"] == 1
    assert max(data["rates"]["in"]) > 0 and min(data["rates"]["rejected"]) == 0
    assert {"decode", "filter", "write", "publish"} <= set(data["stages"]["stage"])
    assert all(ms > 0 for ms in data["stages"]["ms_per_alert"])
    latency = data["latency"]
    assert latency["p50"] and all(a <= b <= c for a, b, c in
                                  zip(latency["p50"], latency["p95"], latency["p99"],
                                      strict=True))
    assert {p.rsplit(":", 1)[0] for p in data["lag"]["partition"]} == {live_run.topic}
    assert all(lag >= 0 for lag in data["lag"]["lag"])
    passes = dict(zip(data["filters"]["filter"], data["filters"]["passes"], strict=True))
    assert passes.get(f"page test [{live_run.filter_id[-6:]}]", 0) > 0
    assert data["memory"]["worker"] and all(mb > 50 for mb in data["memory"]["memory_mb"])


def test_page_screenshot_is_not_blank(live_run: LiveRun, tmp_path: Path) -> None:
    _when_filled(live_run)
    shot = screenshot(live_run.page, tmp_path / "boom_flow_page.png")
    assert ink(shot) > 0.05 and colours(shot) > 50
