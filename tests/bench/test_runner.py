"""How the benchmark states each result against its ceiling."""

from __future__ import annotations

import pytest

from boom_flow.bench.runner import fractions, kafka_graph


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
