"""Pipeline definitions (``graphs/*.yaml``): the graph is data.

A graph names the survey, the source, the stages that run after decoding and the
batch settings; the same file runs on a laptop's LocalCluster or on a deployed
scheduler. Unknown keys and unknown stages fail when the file is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from boom_flow.stages import STAGE_BUILDERS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    kind: Literal["kafka", "files"]
    #: files: a file, a folder or a nightly archive.
    path: Path | None = None
    #: files: packets per second (null: as fast as the pipeline goes).
    rate: float | None = Field(default=None, gt=0)
    #: kafka: explicit topics; null follows the survey's nightly topic pattern.
    topics: list[str] | None = None
    #: kafka: stop after this many seconds without a message (null: run until stopped).
    idle_timeout_s: float | None = Field(default=None, gt=0)


class StageSpec(_Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in STAGE_BUILDERS:
            known = ", ".join(sorted(STAGE_BUILDERS)) or "none are installed yet"
            raise ValueError(f"unknown stage {name!r}; known stages: {known}")
        return name


class BatchOverrides(_Strict):
    max_alerts: int | None = Field(default=None, gt=0)
    max_ms: int | None = Field(default=None, gt=0)
    max_in_flight: int | None = Field(default=None, gt=0)


class GraphSpec(_Strict):
    survey: Literal["ztf", "lsst"]
    source: SourceSpec
    #: Enrichment stages, in order, after decoding and before the write.
    stages: list[StageSpec] = Field(default_factory=list)
    batch: BatchOverrides = Field(default_factory=BatchOverrides)


class GraphError(ValueError):
    """A pipeline definition cannot be used; the message says where and why."""


def load_graph(path: Path) -> GraphSpec:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise GraphError(f"cannot read graph {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise GraphError(f"graph {path} is not valid YAML: {error}") from None
    try:
        return GraphSpec.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in error.errors()
        )
        raise GraphError(f"graph {path}: {problems}") from None
