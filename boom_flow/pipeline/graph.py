"""Pipeline definitions (``graphs/*.yaml``): the graph is data.

A graph names the survey, the source, its stages in order and the batch settings; the
same file runs on a laptop's LocalCluster or on a deployed scheduler. Unknown keys,
unknown stages and stages out of order fail when the file is loaded.

Two ways to list stages:

- complete: the list names ``decode`` (first) and ``write``, and runs exactly as
  listed (``history``, ``aliases``, ``publish`` only if listed);
- enrichments only (neither ``decode`` nor ``write``; what older graphs and tools
  write): the batch path is completed the way it always ran, ``decode``, then
  ``history`` (when there is any stage), ``aliases`` (with ``crossmatch``, unless its
  param ``aliases: false``), the listed stages, ``write``, and ``publish`` with
  ``filter`` (taking the filter's ``stream_maxlen`` and ``dedup_ttl_s``). An empty
  list is decode and write: a plain replay into the archive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from boom_flow.stages import STAGES


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
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; known stages: {', '.join(STAGES)}")
        return name


class BatchOverrides(_Strict):
    max_alerts: int | None = Field(default=None, gt=0)
    max_ms: int | None = Field(default=None, gt=0)
    max_in_flight: int | None = Field(default=None, gt=0)


class GraphSpec(_Strict):
    survey: Literal["ztf", "lsst"]
    source: SourceSpec
    #: Every stage in order, completed on validation (see the module doc).
    stages: list[StageSpec] = Field(default_factory=list, validate_default=True)
    batch: BatchOverrides = Field(default_factory=BatchOverrides)

    @field_validator("stages")
    @classmethod
    def _complete(cls, stages: list[StageSpec]) -> list[StageSpec]:
        complete = complete_stages(stages)
        check_order(complete)
        return complete


#: Params of the short form's ``filter`` that belong to the ``publish`` stage.
_PUBLISH_PARAMS = ("stream_maxlen", "dedup_ttl_s")


def complete_stages(stages: list[StageSpec]) -> list[StageSpec]:
    """The whole batch path of a stage list (see the module doc)."""
    names = [stage.name for stage in stages]
    if "decode" in names or "write" in names:
        return stages
    head = [StageSpec(name="decode")]
    if stages and "history" not in names:
        head.append(StageSpec(name="history"))
    middle, tail = [], [StageSpec(name="write")]
    for stage in stages:
        params = dict(stage.params)
        if (stage.name == "crossmatch" and params.pop("aliases", True)
                and "aliases" not in names):
            head.append(StageSpec(name="aliases"))
        if stage.name == "filter":
            publish = {k: params.pop(k) for k in _PUBLISH_PARAMS if k in params}
            if "publish" not in names:
                tail.append(StageSpec(name="publish", params=publish))
        middle.append(StageSpec(name=stage.name, params=params))
    return [*head, *middle, *tail]


def check_order(stages: list[StageSpec]) -> None:
    """Refuse a complete list that cannot run: ``decode`` not first, no ``write``, a
    stage twice, or one out of the order ``STAGES`` gives (``requires``, ``after``,
    ``before``)."""
    names = [stage.name for stage in stages]
    if names[:1] != ["decode"]:
        raise ValueError("decode must be the first stage (the others take decoded alerts)")
    if "write" not in names:
        raise ValueError("no write stage: nothing would be stored or committed")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"stages listed twice: {', '.join(twice)}")
    where = {name: i for i, name in enumerate(names)}
    for name in names:
        entry = STAGES[name]
        for needed in entry.requires:
            if needed not in where:
                raise ValueError(f"{name} needs the {needed} stage before it")
        for earlier in (*entry.requires, *entry.after):
            if earlier in where and where[earlier] > where[name]:
                raise ValueError(f"{earlier} must come before {name}")
        for later in entry.before:
            if later in where and where[later] < where[name]:
                raise ValueError(f"{name} must come before {later}")


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
