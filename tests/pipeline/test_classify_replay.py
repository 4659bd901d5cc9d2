"""A light curve replayed through the Dask pipeline with the features and classify
stages: scores and properties land in the ZTF_alerts documents."""

from __future__ import annotations

import logging
import pickle
import shutil
from pathlib import Path
from typing import Any

import pymongo
import pytest

from boom_flow.config import load_settings
from boom_flow.pipeline.graph import GraphSpec, SourceSpec, StageSpec, load_graph
from boom_flow.pipeline.run import make_plan, run_pipeline
from boom_flow.stages.classify import ClassifyStage


def test_replay_with_features_and_classify_stores_classifications(
    pipeline_environment: dict[str, str], mongo_db: pymongo.database.Database,
    dask_client: Any, shared_data: Path,
) -> None:
    settings = load_settings(environ={
        **pipeline_environment,
        "BOOM_FLOW_MODELS__MODELS_DIR": str(shared_data / "models" / "onnx"),
    })
    folder = shared_data / "ztf" / "alerts" / "pgb_ZTF21abiuvdk_lightcurve"
    graph = GraphSpec(survey="ztf", source=SourceSpec(kind="files", path=folder),
                      stages=[StageSpec(name="features"), StageSpec(name="classify")])
    summary = run_pipeline(settings, graph, client=dask_client)
    assert summary.rejected == 0
    documents = list(mongo_db.ZTF_alerts.find({}, {"classifications": 1, "properties": 1,
                                                   "candidate.jd": 1}))
    assert len(documents) == 34
    names = {"acai_h", "acai_v", "acai_o", "acai_n", "acai_b", "btsbot"}
    for document in documents:
        assert set(document["classifications"]) == names
        assert all(0.0 <= v <= 1.0 for v in document["classifications"].values())
        properties = document["properties"]
        assert properties["rock"] is False and "all" in properties["photstats"]
    last = max(documents, key=lambda d: d["candidate"]["jd"])
    assert last["classifications"]["acai_h"] > 0.99 and last["classifications"]["btsbot"] > 0.99
    assert last["properties"]["stationary"] is True
    # Private light-curve columns are not stored.
    assert not any(key.startswith("_lc") for key in mongo_db.ZTF_alerts.find_one())


def test_the_plan_carries_only_the_models_that_load_and_reports_the_rest_once(
    tmp_path: Path, shared_data: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    shutil.copy(shared_data / "models" / "onnx" / "btsbot-v1.0.1.onnx", tmp_path)
    settings = load_settings(environ={"BOOM_FLOW_MODELS__MODELS_DIR": str(tmp_path)})
    graph = load_graph(Path(__file__).resolve().parents[2] / "graphs" / "ztf.yaml")
    assert [stage.name for stage in graph.stages][-5:] == ["features", "classify", "filter",
                                                           "write", "publish"]
    caplog.set_level(logging.WARNING, logger="boom_flow")
    for _ in range(2):
        plan = make_plan(settings, graph)
    (classify,) = [stage for stage in plan.stages if stage.name == "classify"]
    assert isinstance(classify, ClassifyStage)
    assert [spec["name"] for spec in classify.specs] == ["btsbot"]
    assert classify.models_dir == str(tmp_path)
    # (the crossmatch stage reports its own missing catalogs: not counted here)
    warnings = [record.getMessage() for record in caplog.records
                if record.name.startswith("boom_flow.ml")]
    assert len(warnings) == 5
    assert all("not found" in w and str(tmp_path) in w for w in warnings)
    # The plan is what the workers get: plain values, nothing loaded yet.
    assert not hasattr(pickle.loads(pickle.dumps(plan)).stages[0], "_decoder")
