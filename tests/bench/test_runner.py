"""How the benchmark states each result against its ceiling, and what it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from boom_flow.bench.runner import (
    GRAPHS_DIR,
    PATH_STAGES,
    WANTED_STAGES,
    bench_settings,
    fractions,
    kafka_graph,
    wanted_stages,
)
from boom_flow.bench.workload import WorkloadSpec
from boom_flow.config import load_settings


def test_fractions_against_the_ceilings() -> None:
    throughput = {"alerts_per_s": 30.0, "steady_alerts_per_s": 40.0}
    stages = [{"stage": "decode", "ms_per_alert": 2.0}, {"stage": "classify", "ms_per_alert": 16.0},
              {"stage": "write", "ms_per_alert": 25.0}]
    ceilings = {"decode": {"alerts_per_s": 2000.0, "ms_per_alert": 1.0},
                "inference": {"alerts_per_s": 100.0, "ms_per_alert": 20.0},
                "write": {"alerts_per_s": 160.0, "ms_per_alert": 12.5}}
    result = fractions(throughput, stages, ceilings)
    # The steady rate against each ceiling's rate...
    assert result["decode"]["pipeline_alerts_per_s_vs_ceiling"] == pytest.approx(0.02)
    assert result["write"]["pipeline_alerts_per_s_vs_ceiling"] == pytest.approx(0.25)
    # ...and each stage's cost alone against its cost inside the pipeline.
    assert result["write"]["stage_cost_ceiling_over_pipeline"] == pytest.approx(0.5)
    assert result["inference"]["stage_cost_ceiling_over_pipeline"] == pytest.approx(1.25)


def test_a_missing_ceiling_is_left_out() -> None:
    assert fractions({"alerts_per_s": 10.0}, [], {"decode": {"alerts_per_s": 100.0}}) == {
        "decode": {"pipeline_alerts_per_s_vs_ceiling": 0.1}}


def test_benchmark_graph_reads_its_topic_with_the_installed_stages() -> None:
    graph = kafka_graph("bench_x_night", ["features"], 250)
    assert graph.source.kind == "kafka" and graph.source.topics == ["bench_x_night"]
    assert [s.name for s in graph.stages] == ["decode", "history", "features", "write"]
    assert graph.batch.max_alerts == 250


def test_each_survey_runs_the_stages_of_its_graph_file(tmp_path: Path) -> None:
    # The checkout's graphs/lsst.yaml and graphs/ztf.yaml, in their order, without the
    # batch path's own stages (decode, history, aliases, write, publish).
    for survey in ("lsst", "ztf"):
        listed = [s["name"] for s in yaml.safe_load(
            (GRAPHS_DIR / f"{survey}.yaml").read_text())["stages"]]
        assert wanted_stages(survey) == [n for n in listed if n not in PATH_STAGES]
    assert wanted_stages("ztf") == ["crossmatch", "features", "classify", "filter"]
    # Without the file (an installed package), the same defaults.
    assert wanted_stages("lsst", graphs_dir=tmp_path) == list(WANTED_STAGES["lsst"])
    (tmp_path / "lsst.yaml").write_text("survey: lsst\nsource: {kind: kafka}\n"
                                        "stages: [{name: filter}]\n")
    assert wanted_stages("lsst", graphs_dir=tmp_path) == ["filter"]
    graph = kafka_graph("bench_x_night", ["filter"], 100, survey="lsst")
    assert graph.survey == "lsst"


def test_lsst_runs_decode_the_schemas_the_simulator_wrote_with() -> None:
    settings = load_settings(environ={})
    spec = WorkloadSpec(mode="quick", n_alerts=10, survey="lsst", lsst_schema_dir="/schemas")
    updated = bench_settings(settings, "abc", spec)
    assert str(updated.surveys.lsst.schema_dir) == "/schemas"
    assert updated.services.mongodb.database.endswith("_bench_abc")
    assert bench_settings(settings, "abc").surveys == settings.surveys
