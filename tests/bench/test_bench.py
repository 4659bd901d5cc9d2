"""Smoke test of ``boom-flow bench --quick``: it runs end to end on its own embedded
stack and writes well-formed results. It asserts on shape and sanity, never on speed:
benchmarks are not part of the suite's pass/fail timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

N_ALERTS = 60


def test_quick_bench_writes_well_formed_results(tmp_path: Path) -> None:
    out = tmp_path / "results"
    process = subprocess.run(
        [sys.executable, "-m", "boom_flow", "bench", "--quick", "--alerts", str(N_ALERTS),
         "--catalog-rows", "2000", "--out", str(out)],
        env=dict(os.environ), capture_output=True, text=True, timeout=170,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    results = json.loads((out / "bench.json").read_text())
    for key in ("machine", "versions", "parameters", "throughput", "stages", "latency",
                "memory", "ceilings", "fractions", "comparison", "cpu", "depths"):
        assert key in results, key
    assert results["machine"]["cores"] >= 1 and results["machine"]["cpu_model"]
    assert results["versions"]["python"] and results["versions"]["boom_flow"]
    throughput = results["throughput"]
    assert throughput["alerts"] == N_ALERTS
    assert throughput["alerts_per_s"] > 0
    stages = {row["stage"]: row for row in results["stages"]}
    assert {"decode", "write"} <= set(stages)
    assert all(row["seconds"] >= 0 for row in stages.values())
    assert stages["decode"]["seconds"] > 0 and stages["write"]["seconds"] > 0
    assert sum(row["share"] for row in stages.values()) == pytest.approx(1.0, abs=0.01)
    assert results["parameters"]["stages"][0] == "decode"
    for step in ("decode", "write"):
        assert results["ceilings"][step]["alerts_per_s"] > 0
        assert results["fractions"][step]["pipeline_alerts_per_s_vs_ceiling"] > 0
    latency = results["latency"][results["latency"]["headline"]]
    assert latency["count"] > 0 and 0 < latency["p50_ms"] <= latency["p99_ms"]
    memory = results["memory"]
    assert memory["peak_mb"] > 0 and len(memory["workers"]) == results["machine"]["cores"]
    assert memory["servers"]["mongodb"]["peak_mb"] > 0  # the embedded servers, sampled too
    assert results["comparison"][0]["system"].startswith("boom_flow")
    # Every process's CPU over the throughput phase, read from outside.
    cpu = results["cpu"]
    processes = {row["process"] for row in cpu["processes"]}
    assert {"driver", "scheduler", "server mongodb", "server kafka", "server valkey"} <= processes
    assert sum(p.startswith("worker ") for p in processes) == results["machine"]["cores"]
    assert cpu["pipeline_ms_per_alert"] > 0 and cpu["servers_ms_per_alert"] > 0
    assert cpu["cpu_ceiling_alerts_per_s"] > 0
    assert [row["prior_nights"] for row in results["depths"]] == [1]
    markdown = (out / "bench.md").read_text()
    assert "## Throughput" in markdown and "BOOM" in markdown and "Kowalski" in markdown
