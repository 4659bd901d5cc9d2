"""The six ONNX models reproduce the published scores on the 39 golden candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from boom_flow.ml.models import ModelLoadError
from boom_flow.ml.registry import load_model

MODELS = ("acai_h", "acai_v", "acai_o", "acai_n", "acai_b", "btsbot")


@pytest.fixture(scope="module")
def golden(shared_data: Path) -> tuple[pd.DataFrame, np.ndarray]:
    folder = shared_data / "models" / "golden"
    table = pd.read_csv(folder / "btsbot_usage_candidates.csv")
    triplets = np.load(folder / "btsbot_usage_triplets.npy").astype(np.float32)
    assert len(table) == len(triplets) == 39
    return table, triplets


def _spec(specs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(spec for spec in specs if spec["name"] == name)


@pytest.mark.parametrize("name", MODELS)
def test_onnx_models_reproduce_the_published_scores(
    name: str, golden: tuple[pd.DataFrame, np.ndarray], onnx_dir: Path,
    ztf_specs: list[dict[str, Any]],
) -> None:
    frame, triplets = golden
    model = load_model(_spec(ztf_specs, name), onnx_dir)
    table = {column: frame[column].to_numpy(dtype="float64") for column in frame.columns
             if pd.api.types.is_numeric_dtype(frame[column])}
    if name == "btsbot":
        # BTSbot's published scores were computed with Kowalski's re-scored real-bogus
        # (new_drb) in its drb slot (btsbot_prod_config.json lists "new_drb").
        table["drb"] = table["new_drb"]
        expected = frame["expected_scores"].to_numpy()
    else:
        expected = frame[name].to_numpy()
    scores = model.predict(table, triplets)
    assert np.isfinite(scores).all()
    assert np.abs(scores - expected).max() < 1e-5


@pytest.mark.parametrize("name", MODELS)
def test_scores_do_not_depend_on_the_run_size(
    name: str, golden: tuple[pd.DataFrame, np.ndarray], onnx_dir: Path,
    ztf_specs: list[dict[str, Any]],
) -> None:
    # The models are fed in runs of ``sub_batch`` alerts for speed; the scores must be
    # those of one run over the whole batch, bit for bit, with the gaps of unscored rows.
    frame, triplets = golden
    model = load_model(_spec(ztf_specs, name), onnx_dir)
    table = {c: frame[c].to_numpy(dtype="float64") for c in model.columns}
    table["sgscore1"] = table["sgscore1"].copy()
    table["sgscore1"][[0, 9, 17]] = np.nan  # unscored rows shift the runs' boundaries
    model.sub_batch = len(frame)
    whole = model.predict(table, triplets)
    for size in (1, 7, 8, 38):
        model.sub_batch = size
        np.testing.assert_array_equal(model.predict(table, triplets), whole)
    assert np.isnan(whole[[0, 9, 17]]).all() and np.isfinite(np.delete(whole, [0, 9, 17])).all()


def test_an_alert_missing_a_model_input_is_not_scored(
    golden: tuple[pd.DataFrame, np.ndarray], onnx_dir: Path, ztf_specs: list[dict[str, Any]],
) -> None:
    frame, triplets = golden
    model = load_model(_spec(ztf_specs, "acai_h"), onnx_dir)
    table = {c: frame[c].to_numpy(dtype="float64") for c in model.columns}
    table["sgscore2"] = table["sgscore2"].copy()
    table["sgscore2"][[3, 10]] = np.nan
    scores = model.predict(table, triplets)
    assert np.isnan(scores[[3, 10]]).all()
    keep = np.setdiff1d(np.arange(39), [3, 10])
    assert np.abs(scores[keep] - frame["acai_h"].to_numpy()[keep]).max() < 1e-5
    del table["drb"]
    assert np.isnan(model.predict(table, triplets)).all()


def test_an_input_spec_that_does_not_fit_the_graph_is_refused(
    onnx_dir: Path, ztf_specs: list[dict[str, Any]],
) -> None:
    spec = {**_spec(ztf_specs, "btsbot"), "inputs": {"triplets": "triplet",
                                                     "features": "acai_features"}}
    with pytest.raises(ModelLoadError, match=r"btsbot.*takes"):
        load_model(spec, onnx_dir)
    spec = {**_spec(ztf_specs, "acai_h"), "inputs": {"triplets": "triplet",
                                                     "features": "no_such_set"}}
    with pytest.raises(ModelLoadError, match="no_such_set"):
        load_model(spec, onnx_dir)
