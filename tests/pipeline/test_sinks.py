"""Sinks in the plan: the results publisher exactly when the graph filters."""

from __future__ import annotations

import json

from boom_flow.config import Settings
from boom_flow.pipeline.graph import GraphSpec, SourceSpec, StageSpec
from boom_flow.pipeline.run import make_plan
from boom_flow.pipeline.sinks import plan_sinks


def _graph(*stages: StageSpec) -> GraphSpec:
    return GraphSpec(survey="lsst", source=SourceSpec(kind="kafka"), stages=list(stages))


def test_only_a_filtering_graph_publishes_results(settings: Settings) -> None:
    assert plan_sinks(settings, _graph()) == ()
    assert plan_sinks(settings, _graph(StageSpec(name="features"))) == ()
    stage = StageSpec(name="filter", params={"stream_maxlen": 500, "reload_s": 5})
    ((name, params),) = plan_sinks(settings, _graph(stage))
    options = dict(params)
    assert name == "filter_results" and options["survey"] == "LSST"
    assert options["stream_maxlen"] == 500 and "reload_s" not in options
    assert json.loads(options["kafka"])["bootstrap.servers"] == settings.services.kafka.bootstrap
    assert options["valkey_url"] == settings.services.valkey.connection_url
    plan = make_plan(settings, _graph(stage))
    assert dict(dict(plan.stages)["filter"])["reload_s"] == 5.0
    hash(plan)  # workers cache what they build by plan
