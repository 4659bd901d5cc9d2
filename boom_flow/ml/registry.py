"""Configured models -> loaded models, each problem reported once per process.

The driver checks the survey's models at start-up (``check_models``, called when the
classify stage is configured) and hands the workers only the usable ones, so a missing
model file is one warning in the operator's log, not one per worker or per batch.
Workers load what they are given once, when the stage is set up (``load_all``); should
a file vanish in between, the worker reports it once and runs without it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from boom_flow.ml.models import Model, ModelLoadError, OnnxModel, XGBoostModel

log = logging.getLogger("boom_flow.ml")

_REPORTED: set[tuple[str, str]] = set()


def model_path(spec: Mapping[str, Any], models_dir: Path | str) -> Path:
    path = Path(str(spec["file"])).expanduser()
    return path if path.is_absolute() else Path(models_dir).expanduser() / path


def load_model(spec: Mapping[str, Any], models_dir: Path | str, threads: int = 1) -> Model:
    """One model from its spec (``ModelSpec`` fields as a mapping); ``ModelLoadError``
    says which model and file when it cannot be used."""
    name, kind = str(spec["name"]), str(spec["kind"])
    path = model_path(spec, models_dir)
    if not path.is_file():
        raise ModelLoadError(f"model {name}: file {path} not found; running without it")
    version = str(spec.get("version") or "")
    if kind == "onnx":
        return OnnxModel(name=name, version=version, path=path,
                         inputs=dict(spec.get("inputs") or {}), output=spec.get("output"),
                         threads=threads)
    if kind == "xgboost":
        return XGBoostModel(name=name, path=path, version=version, threads=threads)
    raise ModelLoadError(f"model {name}: unknown kind {kind!r} (onnx or xgboost)")


def report_once(problem: str, key: str) -> None:
    """Log ``problem`` as a warning unless this process already did for ``key``."""
    if (key, problem) in _REPORTED:
        return
    _REPORTED.add((key, problem))
    log.warning("%s", problem)


def load_all(specs: Iterable[Mapping[str, Any]], models_dir: Path | str, threads: int = 1
             ) -> tuple[list[Model], list[str]]:
    """The models that load, and one message per model that does not (reported once)."""
    models: list[Model] = []
    problems: list[str] = []
    for spec in specs:
        try:
            models.append(load_model(spec, models_dir, threads))
        except ModelLoadError as error:
            problems.append(str(error))
            report_once(str(error), str(model_path(spec, models_dir)))
    return models, problems


def check_models(specs: Sequence[Mapping[str, Any]], models_dir: Path | str
                 ) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Start-up check: the specs whose model loads, and the problems (each logged once)."""
    usable, problems = [], []
    for spec in specs:
        try:
            load_model(spec, models_dir)
        except ModelLoadError as error:
            problems.append(str(error))
            report_once(str(error), str(model_path(spec, models_dir)))
        else:
            usable.append(spec)
    return usable, problems
