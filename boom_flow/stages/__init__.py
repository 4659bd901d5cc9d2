"""Enrichment stages: each a function from ``AlertBatch`` to ``AlertBatch``.

A graph names its stages (``graphs/*.yaml``); ``build_stage`` turns a name and its
settings into the function the workers call. Stages hold no hidden global state and
import neither Dask nor Kafka: they are testable on a hand-made batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boom_flow.core import AlertBatch

Stage = Callable[[AlertBatch], AlertBatch]

#: name -> builder taking the stage's settings from the graph file.
STAGE_BUILDERS: dict[str, Callable[[dict[str, Any]], Stage]] = {}


def _features(params: dict[str, Any]) -> Stage:
    # Imported when built: the stage modules import boom_flow.core and boom_flow.ml.
    from boom_flow.stages.features import build_features

    return build_features(params)


def _classify(params: dict[str, Any]) -> Stage:
    from boom_flow.stages.classify import build_classify

    return build_classify(params)


STAGE_BUILDERS["features"] = _features
STAGE_BUILDERS["classify"] = _classify


def build_stage(name: str, params: dict[str, Any]) -> Stage:
    try:
        builder = STAGE_BUILDERS[name]
    except KeyError:
        known = ", ".join(sorted(STAGE_BUILDERS)) or "none are installed yet"
        raise ValueError(f"unknown stage {name!r}; known stages: {known}") from None
    return builder(params)
