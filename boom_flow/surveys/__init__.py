"""Per-survey decoders and facts, behind one small registry.

``SURVEYS`` holds each survey with default settings (LSST then reads wire-format
packets only if the optional ``lsst-alert-packet`` package is installed; containers
always). A pipeline builds its own with ``build_survey(name, **options)``, e.g.
``build_survey("lsst", schema_registry_url=..., schema_dir=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boom_flow.surveys.base import Survey
from boom_flow.surveys.lsst import lsst_survey
from boom_flow.surveys.ztf import ztf_survey

_FACTORIES: dict[str, Callable[..., Survey]] = {"ztf": ztf_survey, "lsst": lsst_survey}

SURVEYS: dict[str, Survey] = {name: factory() for name, factory in _FACTORIES.items()}


def _known(name: str) -> str:
    key = name.lower()
    if key not in _FACTORIES:
        raise ValueError(f"unknown survey {name!r}; known surveys: {', '.join(sorted(_FACTORIES))}")
    return key


def get_survey(name: str) -> Survey:
    """The registered survey ``name`` (any case), with default settings."""
    return SURVEYS[_known(name)]


def build_survey(name: str, **options: Any) -> Survey:
    """A new survey ``name`` with a decoder (and caches) of its own, built with
    ``options`` (ZTF: ``verify_cutouts``; LSST: ``schema_registry_url``, ``schema_dir``,
    ``use_package``; both: ``max_schemas``)."""
    return _FACTORIES[_known(name)](**options)


__all__ = ["SURVEYS", "Survey", "build_survey", "get_survey"]
