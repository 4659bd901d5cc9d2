"""The classify stage: every configured model once per batch -> ``classifications``.

Inputs come from one feature table per batch: the candidate fields as float columns
plus the light-curve features (from the features stage when it ran, else computed
here). The cutout triplets are prepared only when a loaded model needs images. Each
model runs once on all the alerts it can score; an alert gets
``classifications = {name: score, ...}`` with only the models that could run for it
(no entry at all when none could), as the data model says.

Settings (the graph's ``params``): optionally ``models`` (names: a subset of the
survey's configured models), ``models_dir`` (instead of ``models.models_dir``) and
``threads`` (onnxruntime/XGBoost threads per model, default 1: Dask already runs one
task per core). ``configure`` keeps the configured models whose file loads (each
problem logged once, on the driver); ``setup`` loads them once per worker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from boom_flow.config import Settings
from boom_flow.core import CUTOUTS, STAMPS_VIEW, AlertBatch
from boom_flow.ml.models import Model, Table
from boom_flow.ml.registry import check_models, load_all
from boom_flow.ml.triplets import prepare_triplets
from boom_flow.stages import Resources, Stage, check_params
from boom_flow.stages.features import LIGHTCURVE_FEATURES, PREFIX, lightcurve_features

log = logging.getLogger("boom_flow.stages.classify")


def feature_table(batch: AlertBatch, columns: Sequence[str]) -> Table:
    """``columns`` as float64 arrays: light-curve features, then candidate fields;
    a column the batch lacks is left out (models then treat it as missing)."""
    table: dict[str, np.ndarray] = {}
    wanted = set(columns)
    if wanted & set(LIGHTCURVE_FEATURES):
        if all(PREFIX + name in batch.enrichments for name in LIGHTCURVE_FEATURES):
            lc = {name: batch.enrichments[PREFIX + name].to_numpy(dtype="float64")
                  for name in LIGHTCURVE_FEATURES}
        else:
            frame = lightcurve_features(batch)
            lc = {name: frame[name].to_numpy(dtype="float64") for name in LIGHTCURVE_FEATURES}
        table.update({name: values for name, values in lc.items() if name in wanted})
    for name in wanted - set(table):
        if name not in batch.candidates.columns:
            continue
        try:
            table[name] = batch.candidates[name].to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError):
            continue  # not numeric (a string field): no model can use it
    return table


def batch_triplets(batch: AlertBatch) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Triplets aligned with the alerts (the decoder's inflated stamps when it left
    them, else the cutouts matched by alert id)."""
    return prepare_triplets(batch.view(STAMPS_VIEW, _packed_stamps))


def _packed_stamps(batch: AlertBatch) -> list[tuple[bytes | None, ...]]:
    cutouts = batch.cutouts
    ids = batch.alerts["_id"].tolist()
    if cutouts["_id"].tolist() != ids:
        cutouts = (cutouts.drop_duplicates("_id").set_index("_id").reindex(ids)
                   .reset_index())
    stamps = list(zip(*(cutouts[name].tolist() if name in cutouts.columns
                        else [None] * len(cutouts) for name in CUTOUTS), strict=True))
    return [tuple(None if s is None or s is pd.NA else bytes(s) for s in row)
            for row in stamps]


@dataclass
class Classifier:
    """The stage function, holding the models loaded for this worker process."""

    models: tuple[Model, ...]

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        if not len(batch) or not self.models:
            return batch
        columns = sorted({c for model in self.models for c in model.columns})
        table = feature_table(batch, columns)
        triplets, usable = None, np.ones(len(batch), dtype=bool)
        if any(model.needs_triplets for model in self.models):
            triplets, usable, errors = batch_triplets(batch)
            if not usable.all():
                reasons = sorted({e for e in errors if e})
                log.warning("%d of %d alerts have unusable cutouts, not scored by image "
                            "models: %s", int((~usable).sum()), len(batch), "; ".join(reasons))
        scores: dict[str, np.ndarray] = {}
        image_table, image_triplets = table, triplets
        if triplets is not None and not usable.all():
            image_table = {k: v[usable] for k, v in table.items()}
            image_triplets = triplets[usable]
        for model in self.models:
            if model.needs_triplets:
                values = np.full(len(batch), np.nan)
                if usable.any():
                    values[usable] = model.predict(image_table, image_triplets)
            else:
                values = model.predict(table, None)
            scores[model.name] = values
        names = list(scores)
        matrix = np.column_stack([scores[n] for n in names])
        present = np.isfinite(matrix)
        documents = [
            {name: float(value) for name, value, ok in zip(names, row, flags, strict=True) if ok}
            or None
            for row, flags in zip(matrix.tolist(), present, strict=True)
        ]
        return batch.with_enrichment(
            "classifications", pd.Series(documents, index=batch.alerts.index, dtype=object))


def _selected(specs: list[dict[str, Any]], names: Sequence[str] | None) -> list[dict[str, Any]]:
    if names is None:
        return specs
    known = {spec["name"] for spec in specs}
    unknown = sorted(set(names) - known)
    if unknown:
        # Not fatal: a model dropped at start-up (missing file) is no longer in the specs.
        log.warning("classify: models %s are not configured or not loadable; skipped",
                    ", ".join(unknown))
    return [spec for spec in specs if spec["name"] in set(names)]


@dataclass
class ClassifyStage(Stage):
    """The configured models (their specs, as plain dicts), loaded by ``setup``."""

    name: ClassVar[str] = "classify"

    specs: list[dict[str, Any]] = field(default_factory=list)
    models_dir: str = "."
    threads: int = 1

    @classmethod
    def configure(cls, settings: Settings, survey: str, params: Mapping[str, Any]) -> Self:
        """The survey's configured models that load here, at start-up (each problem is
        logged once, on the driver)."""
        check_params(cls.name, params, ("models", "models_dir", "threads"))
        models_dir = str(params.get("models_dir") or settings.models.models_dir)
        specs = [spec.model_dump(mode="json") for spec in getattr(settings.models, survey)]
        usable, _ = check_models(specs, models_dir)
        names = params.get("models")
        return cls(specs=_selected([dict(s) for s in usable],
                                   list(names) if names is not None else None),
                   models_dir=models_dir, threads=int(params.get("threads", 1)))

    def setup(self, resources: Resources) -> None:
        self.classifier = Classifier(tuple(load_all(self.specs, self.models_dir,
                                                    self.threads)[0]))

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        return self.classifier(batch)
