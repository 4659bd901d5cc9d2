"""XGBoost training: one artifact that reloads and predicts identically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from boom_flow.ml.models import XGBoostModel
from boom_flow.ml.training import (
    TrainingError,
    load_artifact,
    save_artifact,
    stratified_folds,
    train_xgboost,
)


def labelled_table(rows: int = 300, seed: int = 1) -> pd.DataFrame:
    """A table where the label depends on two of three features (with missing values)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"magpsf": rng.normal(18, 1, rows), "age": rng.exponential(5, rows),
                          "noise": rng.normal(size=rows)})
    table["label"] = ((table["magpsf"] < 18) & (table["age"] < 8)).astype(int)
    table.loc[::9, "noise"] = np.nan
    return table


def test_a_trained_model_reloads_and_predicts_identically(tmp_path: Path) -> None:
    table = labelled_table()
    features = ["magpsf", "age", "noise"]
    artifact = train_xgboost(table, "label", features, version="2.1")
    assert artifact.metrics["cv_auc"] > 0.9
    path = save_artifact(artifact, tmp_path / "bright_young")
    assert path.name == "bright_young.json" and path.is_file()
    loaded = load_artifact(path)
    assert loaded.features == tuple(features) and loaded.version == "2.1"
    assert loaded.metrics == pytest.approx(artifact.metrics)
    x = table[features].to_numpy(np.float32)
    before = artifact.booster.inplace_predict(x)
    model = XGBoostModel(name="bright_young", path=path)
    after = model.predict({c: table[c].to_numpy(dtype="float64") for c in features}, None)
    np.testing.assert_array_equal(after, before.astype(np.float64))
    # A batch without one of the model's columns cannot be scored at all.
    assert np.isnan(model.predict({"magpsf": table["magpsf"].to_numpy()}, None)).all()


def test_training_without_a_feature_column_names_it() -> None:
    with pytest.raises(TrainingError, match="'sgscore9'"):
        train_xgboost(labelled_table(), "label", ["magpsf", "sgscore9"], version="1")
    with pytest.raises(TrainingError, match="'target'"):
        train_xgboost(labelled_table(), "target", ["magpsf"], version="1")


def test_training_refuses_a_label_that_is_not_binary() -> None:
    table = labelled_table()
    table.loc[0, "label"] = 2
    with pytest.raises(TrainingError, match="0 and 1"):
        train_xgboost(table, "label", ["magpsf"], version="1")


def test_stratified_folds_partition_the_rows_and_balance_classes() -> None:
    y = np.array([0] * 20 + [1] * 10)
    folds = stratified_folds(y, 5)
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(30))
    assert all(y[test].sum() == 2 for _, test in folds)
