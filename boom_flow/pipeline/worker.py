"""What runs on a Dask worker for each batch: decode, the stages, one bulk write.

Everything a worker needs more than once (the survey decoder with its schema cache,
the built stages, the MongoDB client) is built on first use and cached for the life
of the worker process, keyed by the plan: a batch carries only its packets and a
small, hashable plan.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pymongo

from boom_flow.core import AlertBatch, RawBatch
from boom_flow.core.text import clip
from boom_flow.pipeline.sinks import built_sinks
from boom_flow.stages import Stage, build_stage
from boom_flow.storage import write_batch
from boom_flow.storage.aliases import PARTNERS, AliasSearch, find_aliases, write_aliases
from boom_flow.storage.known import load_known
from boom_flow.surveys import Survey, build_survey, get_survey


@dataclass(frozen=True)
class BatchPlan:
    """Everything the workers must know to process a batch (hashable, picklable)."""

    survey: str
    survey_options: tuple[tuple[str, Any], ...]
    mongo_uri: str
    mongo_database: str
    mongo_options: tuple[tuple[str, Any], ...] = ()
    #: ``(stage name, sorted params)`` in the order they run after decoding.
    stages: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    #: ``(sink name, sorted params)`` run after the write and before the commit
    #: (``boom_flow.pipeline.sinks``: the filter results publisher).
    sinks: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()


@dataclass
class BatchOutcome:
    """What happened to one batch; the driver adds these up into the run summary."""

    packets: int = 0
    alerts: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    #: Kafka timestamps (ms) of the alerts, for latency.
    timestamps_ms: list[int] = field(default_factory=list)
    error: str | None = None


@cache
def _survey(plan_survey: str, options: tuple[tuple[str, Any], ...]) -> Survey:
    return build_survey(plan_survey, **dict(options))


@cache
def _stages(stages: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]) -> list[Stage]:
    return [build_stage(name, dict(params)) for name, params in stages]


@cache
def _alias_search(survey: str, stages: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
                  ) -> AliasSearch | None:
    """Aliases with the other survey are looked for when the graph's crossmatch stage
    asks for them (its ``aliases`` param, on by default)."""
    wanted = any(name == "crossmatch" and dict(params).get("aliases") for name, params in stages)
    this = get_survey(survey)
    if not wanted or this.name not in PARTNERS:
        return None
    return AliasSearch.between(this, get_survey(PARTNERS[this.name]))


@cache
def _database(uri: str, name: str, options: tuple[tuple[str, Any], ...]) -> Any:
    return pymongo.MongoClient(uri, **dict(options))[name]


def process_batch(raw: RawBatch, plan: BatchPlan) -> BatchOutcome:
    """Decode, enrich and store one batch. Never raises: a failure is reported in the
    outcome, so that the driver stops without committing instead of hanging."""
    outcome = BatchOutcome(packets=len(raw.packets))
    try:
        started = time.perf_counter()
        batch: AlertBatch = _survey(plan.survey, plan.survey_options).decode(raw.packets)
        batch = batch.with_rejections(raw.rejected)
        outcome.seconds["decode"] = time.perf_counter() - started
        database = _database(plan.mongo_uri, plan.mongo_database, plan.mongo_options)
        if plan.stages:
            # What the archive knows of these objects, read once for every stage.
            started = time.perf_counter()
            batch = load_known(database, batch)
            outcome.seconds["history"] = time.perf_counter() - started
        aliases = _alias_search(plan.survey, plan.stages)
        if aliases is not None:
            # The other survey's objects near these alerts: one query (storage.aliases).
            started = time.perf_counter()
            batch = find_aliases(database, batch, aliases)
            outcome.seconds["aliases"] = time.perf_counter() - started
        for (name, _), stage in zip(plan.stages, _stages(plan.stages), strict=True):
            started = time.perf_counter()
            batch = stage(batch)
            outcome.seconds[name] = time.perf_counter() - started
        started = time.perf_counter()
        written = write_batch(database, batch)
        if aliases is not None:
            write_aliases(database, batch, aliases)
        outcome.seconds["write"] = time.perf_counter() - started
        for (name, _), sink in zip(plan.sinks, built_sinks(plan.sinks), strict=True):
            started = time.perf_counter()
            sink(batch)
            outcome.seconds[name] = time.perf_counter() - started
    except Exception:
        outcome.error = clip(traceback.format_exc())
        return outcome
    outcome.alerts = len(batch)
    outcome.stored = written.alerts_inserted
    outcome.duplicates = written.alerts_existing
    outcome.rejected = written.rejected
    outcome.timestamps_ms = [p.timestamp_ms for p in raw.packets if p.timestamp_ms is not None]
    return outcome
