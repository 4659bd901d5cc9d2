"""Train the project's own XGBoost classifiers and keep each as one artifact.

The artifact is XGBoost's own JSON model file with boom_flow's facts stored as booster
attributes (feature list, version, cross-validated metrics, label): one file that any
XGBoost can still open, and that cannot drift from the model it describes.

Training is binary classification (label 0/1 or boolean). Cross-validation uses
stratified folds built here (no scikit-learn dependency) and ``xgboost.cv``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ATTRIBUTE = "boom_flow"
FORMAT = 1
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": ["auc", "error", "logloss"],  # early stopping watches the last
    "max_depth": 4,
    "eta": 0.1,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "tree_method": "hist",
    "nthread": 1,
    "seed": 0,
}


class TrainingError(ValueError):
    """The table cannot train a model (the message names the column or value)."""


class ArtifactError(ValueError):
    """A file is not a usable boom_flow XGBoost artifact."""


@dataclass
class Artifact:
    booster: Any
    features: tuple[str, ...]
    version: str
    metrics: dict[str, float] = field(default_factory=dict)
    label: str = ""


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet (``.parquet``/``.pq``) or CSV table."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise TrainingError(f"cannot read table {path}: {error}") from None


def training_matrix(table: pd.DataFrame, label: str, features: Sequence[str]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Features as float32 (NaN = missing) and the 0/1 label, or a ``TrainingError``
    naming what is wrong."""
    missing = [name for name in (label, *features) if name not in table.columns]
    if missing:
        raise TrainingError(f"table has no column {', '.join(map(repr, missing))} "
                            f"(columns: {', '.join(map(str, table.columns))})")
    if not features:
        raise TrainingError("no feature columns given")
    try:
        x = table[list(features)].to_numpy(dtype=np.float32, na_value=np.nan)
    except (TypeError, ValueError):
        bad = [f for f in features if not pd.api.types.is_numeric_dtype(table[f])
               and not pd.api.types.is_bool_dtype(table[f])]
        raise TrainingError(f"feature columns must be numeric: {', '.join(bad)}") from None
    labels = table[label]
    if labels.isna().any():
        raise TrainingError(f"label column {label!r} has missing values")
    values = set(pd.unique(labels.astype("float64")))
    if not values <= {0.0, 1.0} or len(values) != 2:
        raise TrainingError(f"label column {label!r} must hold both 0 and 1 (found "
                            f"{sorted(values)[:5]})")
    return x, labels.to_numpy(dtype=np.float32)


def stratified_folds(y: np.ndarray, nfold: int, seed: int = 0
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs with each class spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(y), dtype=int)
    for value in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == value))
        assignment[members] = np.arange(len(members)) % nfold
    return [(np.flatnonzero(assignment != k), np.flatnonzero(assignment == k))
            for k in range(nfold)]


def train_xgboost(table: pd.DataFrame, label: str, features: Sequence[str], version: str,
                  rounds: int = 200, nfold: int = 5, seed: int = 0) -> Artifact:
    """Cross-validate, then train on the whole table; metrics are the CV means at the
    chosen number of rounds (early stopping on the CV log-loss)."""
    import xgboost as xgb

    x, y = training_matrix(table, label, features)
    smallest = int(min((y == 0).sum(), (y == 1).sum()))
    if smallest < nfold:
        raise TrainingError(f"{nfold}-fold cross-validation needs at least {nfold} rows of "
                            f"each class; the rarer class has {smallest}")
    params = {**DEFAULT_PARAMS, "seed": seed}
    matrix = xgb.DMatrix(x, label=y, feature_names=list(features), missing=np.nan)
    history = xgb.cv(params, matrix, num_boost_round=rounds,
                     folds=stratified_folds(y, nfold, seed), early_stopping_rounds=20,
                     seed=seed)
    best = history.iloc[-1]
    metrics = {
        "cv_folds": float(nfold),
        "rounds": float(len(history)),
        **{f"cv_{name}": float(best[f"test-{name}-mean"]) for name in ("auc", "logloss", "error")},
        **{f"cv_{name}_std": float(best[f"test-{name}-std"]) for name in ("auc", "logloss")},
        "rows": float(len(y)),
        "positives": float(y.sum()),
    }
    booster = xgb.train(params, matrix, num_boost_round=len(history))
    return Artifact(booster=booster, features=tuple(features), version=version,
                    metrics=metrics, label=label)


def save_artifact(artifact: Artifact, path: Path) -> Path:
    """Write the artifact as one XGBoost JSON file (``.json`` appended if absent)."""
    if path.suffix not in (".json", ".ubj"):
        path = path.with_name(path.name + ".json")
    facts = {"format": FORMAT, "features": list(artifact.features),
             "version": artifact.version, "metrics": artifact.metrics, "label": artifact.label}
    artifact.booster.set_attr(**{ATTRIBUTE: json.dumps(facts)})
    path.parent.mkdir(parents=True, exist_ok=True)
    artifact.booster.save_model(str(path))
    return path


def load_artifact(path: Path) -> Artifact:
    import xgboost as xgb

    if not path.is_file():
        raise ArtifactError(f"no model file at {path}")
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except xgb.core.XGBoostError as error:
        raise ArtifactError(f"{path} is not an XGBoost model: {str(error).splitlines()[0]}"
                            ) from None
    raw = booster.attr(ATTRIBUTE)
    if raw is None:
        raise ArtifactError(f"{path} is an XGBoost model without boom_flow's feature list "
                            "(train it with `boom-flow models train`)")
    facts = json.loads(raw)
    return Artifact(booster=booster, features=tuple(facts["features"]),
                    version=str(facts.get("version", "")), metrics=facts.get("metrics", {}),
                    label=facts.get("label", ""))
