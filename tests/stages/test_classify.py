"""The classify stage from raw packets: decode -> triplet -> features -> models."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from boom_flow.config import load_settings
from boom_flow.core import AlertBatch, RawPacket
from boom_flow.ml.training import save_artifact, train_xgboost
from boom_flow.stages import StageConfigError, configure_stage, set_up
from boom_flow.stages.classify import ClassifyStage
from boom_flow.stages.features import FeaturesStage
from boom_flow.surveys import build_survey

ACAI = ("acai_h", "acai_v", "acai_o", "acai_n", "acai_b")


@pytest.fixture(scope="module")
def ztf_specs() -> list[dict[str, Any]]:
    return [spec.model_dump(mode="json") for spec in load_settings(environ={}).models.ztf]


@pytest.fixture(scope="module")
def onnx_dir(shared_data: Path) -> Path:
    return shared_data / "models" / "onnx"


def decode(paths: list[Path]) -> AlertBatch:
    packets = [RawPacket(path.read_bytes(), str(path)) for path in paths]
    batch = build_survey("ztf").decode(packets)
    assert not batch.rejected
    return batch


def classify_stage(specs: list[dict[str, Any]], models_dir: Path) -> ClassifyStage:
    """The stage as a worker has it: configured with these specs, set up here."""
    stage = set_up(ClassifyStage(specs=specs, models_dir=str(models_dir)))
    assert isinstance(stage, ClassifyStage)
    return stage


def test_a_variable_star_from_its_raw_packet(shared_data: Path, onnx_dir: Path,
                                             ztf_specs: list[dict[str, Any]]) -> None:
    batch = decode([shared_data / "ztf/alerts/boom_tests/2695378462115010012.avro"])
    assert batch.alerts["objectId"].tolist() == ["ZTF18abudxnw"]
    features = set_up(FeaturesStage())
    classify = classify_stage(ztf_specs, onnx_dir)
    scores = classify(features(batch)).enrichments["classifications"][0]
    assert set(scores) == {*ACAI, "btsbot"}
    assert scores["acai_v"] > 0.99
    assert all(value < 0.01 for name, value in scores.items() if name != "acai_v"), scores


def test_the_supernova_scores_high_on_hosted_and_btsbot(
    shared_data: Path, onnx_dir: Path, ztf_specs: list[dict[str, Any]],
) -> None:
    paths = sorted((shared_data / "ztf/alerts/pgb_ZTF21abiuvdk_lightcurve").glob("*.avro"))
    batch = decode(paths)
    classify = classify_stage(ztf_specs, onnx_dir)
    # Without the features stage, classify computes the light-curve features itself.
    alone = classify(batch).enrichments["classifications"].tolist()
    out = classify(set_up(FeaturesStage())(batch))
    scores = pd.DataFrame(out.enrichments["classifications"].tolist())
    assert pd.DataFrame(alone).equals(scores)
    jd = batch.candidates["jd"].to_numpy(dtype="float64")
    later = jd > jd.min() + 10  # after the first ten days of the light curve
    assert later.sum() == 29
    assert scores.loc[later, "acai_h"].min() > 0.99
    assert scores.loc[later, "btsbot"].min() > 0.8
    assert (scores.loc[later, "btsbot"] > 0.99).mean() > 0.9


def _train_xgboost_model(path: Path) -> Path:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"magpsf": rng.normal(17, 2, 200), "age": rng.exponential(10, 200)})
    table["label"] = (table["magpsf"] < 17).astype(int)
    return save_artifact(train_xgboost(table, "label", ["magpsf", "age"], "1"), path)


def test_models_that_cannot_run_for_an_alert_are_left_out(
    shared_data: Path, onnx_dir: Path, ztf_specs: list[dict[str, Any]], tmp_path: Path,
) -> None:
    paths = sorted((shared_data / "ztf/alerts/pgb_ZTF21abiuvdk_lightcurve").glob("*.avro"))[:3]
    batch = decode(paths)
    # Alert 0 lost its difference stamp, alert 1 its drb: only the XGBoost model (magpsf,
    # age) scores alert 0; alert 1 gets no ACAI/BTSbot score either (drb is an input).
    cutouts = batch.cutouts.copy()
    cutouts["cutoutDifference"] = [None, *cutouts["cutoutDifference"].tolist()[1:]]
    candidates = batch.candidates.copy()
    drb = candidates["drb"].to_numpy(dtype="float64", na_value=np.nan).copy()
    drb[1] = np.nan
    candidates["drb"] = drb
    batch = replace(batch, cutouts=cutouts, candidates=candidates)
    model = _train_xgboost_model(tmp_path / "bright.json")
    specs = [*ztf_specs, {"name": "bright", "kind": "xgboost", "file": str(model)}]
    out = classify_stage(specs, onnx_dir)(batch)
    result = out.enrichments["classifications"].tolist()
    assert set(result[0]) == {"bright"}
    assert set(result[1]) == {"bright"}
    assert set(result[2]) == {*ACAI, "btsbot", "bright"}
    # Nothing at all to say: the field is absent rather than an empty document.
    only_images = classify_stage(ztf_specs, onnx_dir)(batch)
    assert only_images.enrichments["classifications"].tolist()[:2] == [None, None]


def test_a_missing_model_is_reported_once_and_the_stage_still_runs(
    shared_data: Path, onnx_dir: Path, ztf_specs: list[dict[str, Any]], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("acai_h.d1_dnn_20201130.onnx", "acai_b.d1_dnn_20201130.onnx"):
        shutil.copy(onnx_dir / name, tmp_path / name)
    caplog.set_level(logging.WARNING, logger="boom_flow")
    batch = decode([shared_data / "ztf/alerts/boom_tests/2695378462115010012.avro"])
    for _ in range(2):
        stage = classify_stage(ztf_specs, tmp_path)
        scores = stage(batch).enrichments["classifications"][0]
        assert set(scores) == {"acai_h", "acai_b"}
    missing = [r.getMessage() for r in caplog.records if "not found" in r.getMessage()]
    assert len(missing) == 4
    assert sum("btsbot-v1.0.1.onnx" in message for message in missing) == 1


def test_a_subset_of_the_configured_models_can_be_chosen(
    shared_data: Path, onnx_dir: Path, ztf_specs: list[dict[str, Any]],
) -> None:
    batch = decode([shared_data / "ztf/alerts/boom_tests/2695378462115010012.avro"])
    settings = load_settings(environ={})
    stage = set_up(configure_stage(settings, "ztf", "classify", {
        "models_dir": str(onnx_dir), "models": ["acai_v", "btsbot"]}))
    assert set(stage(batch).enrichments["classifications"][0]) == {"acai_v", "btsbot"}
    with pytest.raises(StageConfigError, match="unknown classify settings: model"):
        configure_stage(settings, "ztf", "classify", {"model": "acai_v"})


def test_the_same_packet_twice_in_a_batch_is_scored_twice_alike(
    shared_data: Path, onnx_dir: Path, ztf_specs: list[dict[str, Any]],
) -> None:
    path = shared_data / "ztf/alerts/boom_tests/2695378462115010012.avro"
    batch = decode([path, path])
    out = classify_stage(ztf_specs, onnx_dir)(batch)
    first, second = out.enrichments["classifications"].tolist()
    assert first == second and first["acai_v"] > 0.99
