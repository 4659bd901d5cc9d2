"""``boom-flow demo`` as a user runs it: against the running services, with no data and
no models beside the checkout, it replays a simulated night and reports what the
archive and the filter streams then hold."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pymongo
import pytest
import redis
from click.testing import CliRunner

from boom_flow.bench.demo import (
    FETCH_COMMAND,
    DemoReport,
    no_models_note,
    report_lines,
)
from boom_flow.bench.extras import usable_models
from boom_flow.cli.main import cli
from boom_flow.pipeline.summary import RunSummary
from tests.conftest import free_port

pytestmark = pytest.mark.clean_clone

N_ALERTS = 120


def _number(label: str, output: str) -> int:
    match = re.search(rf"{label}:\s+([\d,]+)", output)
    assert match, output
    return int(match.group(1).replace(",", ""))


def test_demo_replays_a_simulated_night_and_reports(
        environment: dict[str, str], mongo_db: pymongo.database.Database, valkey: redis.Redis,
        tmp_path: Path) -> None:
    env = {**os.environ, **environment, "BOOM_FLOW_DASK__N_WORKERS": "1",
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
    assert "no classifier model" in output and f"`{FETCH_COMMAND}`" in output
    assert "boom-flow api" in output and "http://127.0.0.1:4000/docs" in output
    assert f"boom-flow filters results {demo_filter['_id']}" in output
    # Where to watch it: the boom_flow page of the run's Dask dashboard, and the notebooks.
    page = re.search(r"boom_flow dashboard \(while the replay runs\): (http://\S+/boom_flow)",
                     process.stderr)
    assert page, process.stderr
    assert f"dashboard:  {page.group(1)}" in output and "notebooks/" in output


def _demo_report(**changes: object) -> DemoReport:
    report = DemoReport(
        alerts=25, objects=20, summary=RunSummary(), catalog_rows=100, objects_with_matches=1,
        objects_checked=20, classified=0, models=[], filter_passes=0, filter_id=None,
        stages=["crossmatch", "classify"], dashboard=None, mongo_uri="mongodb://x",
        database="boom")
    return replace(report, **changes)


@pytest.mark.services
def test_the_suggested_api_command_serves_the_api(environment: dict[str, str]) -> None:
    """The demo's "where to look next" API command, run as printed in a shell, starts
    the API (a secret key the API accepts)."""
    port = free_port()
    [line] = [line for line in report_lines(_demo_report(api_url=f"http://127.0.0.1:{port}"))
              if line.strip().startswith("API:")]
    command, url = (part.strip() for part in line.split("API:", 1)[1].split("->"))
    env = {**os.environ, **environment, "BOOM_FLOW_API__PORT": str(port)}
    env.pop("BOOM_FLOW_API__SECRET_KEY", None)
    server = subprocess.Popen(["bash", "-c", command], env=env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the API did not answer"
                time.sleep(0.3)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the shell and the API it started
        server.wait(timeout=20)


def test_without_models_the_demo_names_the_command_that_gets_them(tmp_path: Path) -> None:
    from boom_flow.config import load_settings

    settings = load_settings(environ={"BOOM_FLOW_MODELS__MODELS_DIR": str(tmp_path)})
    assert usable_models(settings) == []
    notes = no_models_note(settings)
    assert f"`{FETCH_COMMAND}`" in notes and str(tmp_path) in notes
    result = CliRunner().invoke(cli, ["models", "fetch", "--help"])
    assert result.exit_code == 0 and "models.models_dir" in result.output
