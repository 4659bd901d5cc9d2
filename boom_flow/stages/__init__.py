"""Enrichment stages: each a function from ``AlertBatch`` to ``AlertBatch``.

A graph names its stages (``graphs/*.yaml``); ``build_stage`` turns a name and its
settings into the function the workers call. Stages hold no hidden global state and
import neither Dask nor Kafka: they are testable on a hand-made batch.

A stage that needs more than its graph params (the configured models, catalogs, ...)
registers a configurer in ``STAGE_CONFIGURERS``: it runs once, on the driver at start-up,
and returns the complete params the workers get, so workers never read configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boom_flow.config import Settings
from boom_flow.core import AlertBatch

Stage = Callable[[AlertBatch], AlertBatch]
#: (settings, survey, graph params) -> the params the stage is built with.
Configurer = Callable[[Settings, str, dict[str, Any]], dict[str, Any]]

#: name -> builder taking the stage's settings from the graph file.
STAGE_BUILDERS: dict[str, Callable[[dict[str, Any]], Stage]] = {}
#: name -> configurer, for the stages that take settings from the configuration.
STAGE_CONFIGURERS: dict[str, Configurer] = {}


def _features(params: dict[str, Any]) -> Stage:
    # Imported when built: the stage modules import boom_flow.core and boom_flow.ml.
    from boom_flow.stages.features import build_features

    return build_features(params)


def _classify(params: dict[str, Any]) -> Stage:
    from boom_flow.stages.classify import build_classify

    return build_classify(params)


def _configure_classify(settings: Settings, survey: str, params: dict[str, Any]
                        ) -> dict[str, Any]:
    from boom_flow.stages.classify import configure_classify

    return configure_classify(settings, survey, params)


def _crossmatch(params: dict[str, Any]) -> Stage:
    from boom_flow.stages.crossmatch import build_crossmatch

    return build_crossmatch(params)


def _configure_crossmatch(settings: Settings, survey: str, params: dict[str, Any]
                          ) -> dict[str, Any]:
    from boom_flow.stages.crossmatch import configure_crossmatch

    return configure_crossmatch(settings, survey, params)


STAGE_BUILDERS["crossmatch"] = _crossmatch
STAGE_CONFIGURERS["crossmatch"] = _configure_crossmatch


def _filter(params: dict[str, Any]) -> Stage:
    from boom_flow.filters.aliases import alias_visibility
    from boom_flow.filters.live import live_provider
    from boom_flow.stages.filter import FilterStage

    provider = live_provider(params)
    return FilterStage(provider, alias_visibility=alias_visibility(provider.collection.database))


def _configure_filter(settings: Settings, survey: str, params: dict[str, Any]
                      ) -> dict[str, Any]:
    from boom_flow.filters.live import configure_filter

    return configure_filter(settings, survey, params)


STAGE_BUILDERS["features"] = _features
STAGE_BUILDERS["classify"] = _classify
STAGE_CONFIGURERS["classify"] = _configure_classify
#: Users' filters (``boom_flow.filters``): the active ones of the survey, reloaded live.
STAGE_BUILDERS["filter"] = _filter
STAGE_CONFIGURERS["filter"] = _configure_filter


def configure_stage(settings: Settings, survey: str, name: str, params: dict[str, Any]
                    ) -> dict[str, Any]:
    """The params ``name`` is built with: the graph's, completed by its configurer."""
    configure = STAGE_CONFIGURERS.get(name)
    return params if configure is None else configure(settings, survey, params)


def build_stage(name: str, params: dict[str, Any]) -> Stage:
    try:
        builder = STAGE_BUILDERS[name]
    except KeyError:
        known = ", ".join(sorted(STAGE_BUILDERS)) or "none are installed yet"
        raise ValueError(f"unknown stage {name!r}; known stages: {known}") from None
    return builder(params)
