"""Configured models -> loaded models, each problem reported once per process.

The driver checks the survey's models at start-up (``check_models``, called when the
pipeline plan is made) and hands the workers only the usable ones, so a missing model
file is one warning in the operator's log, not one per worker or per batch. Workers
load what they are given once per process (``load_models`` is cached); should a file
vanish in between, the worker reports it once and runs without it.

Specs travel to the workers inside the (hashable) pipeline plan as JSON text
(``specs_to_json``), so workers never read configuration files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
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


@cache
def load_models(specs_json: str, models_dir: str, threads: int = 1) -> tuple[Model, ...]:
    """Per-process cache of ``load_all`` for the specs a plan carries."""
    return tuple(load_all(specs_from_json(specs_json), models_dir, threads)[0])


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


def specs_to_json(specs: Iterable[Any]) -> str:
    """Specs (pydantic ``ModelSpec`` or mappings) as canonical JSON text."""
    plain = [s.model_dump(mode="json") if hasattr(s, "model_dump") else dict(s) for s in specs]
    return json.dumps(plain, sort_keys=True, default=str)


def specs_from_json(text: str) -> list[dict[str, Any]]:
    return list(json.loads(text))
