"""Stages: every step of the batch path, from packets to published results, by name.

A graph (``graphs/*.yaml``) lists its stages in the order they run: ``decode``,
``history``, ``aliases``, ``crossmatch``, ``features``, ``classify``, ``filter``,
``write``, ``publish``. Each is a small class found here by name. Its life has three
moments, each on its own side of the cluster:

1. ``configure`` (classmethod), once, on the driver: from the ``Settings``, the survey
   and the graph's ``params``; it validates them (a mistake stops the run before any
   batch) and returns the configured stage, plain data that is pickled to the workers.
2. ``setup(resources)``, once per worker, before its first batch (the pipeline's worker
   plugin calls it): load the models, open the catalogs, keep the clients it needs.
3. ``__call__(batch)``, per batch: a new batch from the old one (``with_enrichment``,
   ``with_counts``), never a mutation. Pure wherever the stage's job allows; I/O only in
   the stages whose job it is (decode reads packets, history and aliases read the
   archive, write writes it, publish publishes).

``teardown`` runs when the worker closes. The clients themselves (MongoDB, Valkey,
Kafka) are not the stages': the worker plugin opens the ones the stages ``need`` into
one ``Resources`` and closes them after the stages' teardown.

How to add a stage
------------------
- Write a class in its own module under ``boom_flow/stages/`` deriving from ``Stage``:
  ``name``; ``needs`` (a subset of ``RESOURCES``, if it does I/O); ``configure`` if it
  takes params or settings (keep only plain, picklable values; ``check_params`` gives
  the usual error); ``setup`` if it builds something per worker (keep it on ``self``);
  ``__call__``. Test it on a hand-made batch: ``set_up(YourStage(...))`` runs it
  in-process, with fake ``Resources`` where the test is not about I/O.
- Register it with ``register_stage(name, "module:Class", requires=..., after=...,
  before=...)`` below (or from your own package): ``requires`` names stages that must
  be in the graph and run earlier, ``after``/``before`` stages that must run
  earlier/later when they are there; graphs that break this are refused on load.
  Registration names the class as a string, so listing stages imports nothing heavy.
- List it in the graphs that should run it. Numbers to report per batch go in
  ``batch.with_counts(...)``; stage time is recorded by the pipeline (Dask's fine
  performance metrics, label = stage name), so a stage never times itself.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from boom_flow.config import Settings

#: What a stage may ``need`` from its worker: the archive (a pymongo ``Database``),
#: Valkey (a ``redis.Redis``) and a Kafka producer (``confluent_kafka.Producer``).
RESOURCES = frozenset({"mongo", "valkey", "kafka"})


class StageConfigError(ValueError):
    """A stage's params or settings cannot be used; raised on the driver, at start."""


@dataclass
class Resources:
    """The clients a worker's stages share, opened once per worker (``None``: not
    opened, because no stage needs it). Tests pass in-memory fakes."""

    database: Any = None
    valkey: Any = None
    producer: Any = None

    def get(self, need: str) -> Any:
        value = {"mongo": self.database, "valkey": self.valkey, "kafka": self.producer}[need]
        if value is None:
            raise RuntimeError(f"no {need} client on this worker; a stage that uses it "
                               "must list it in its `needs`")
        return value


class Stage:
    """One step of the batch path (see the module doc for its life)."""

    name: ClassVar[str] = ""
    #: The worker resources ``setup`` takes from ``Resources`` (see ``RESOURCES``).
    needs: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def configure(cls, settings: Settings, survey: str, params: Mapping[str, Any]) -> Self:
        """The stage as the workers get it. This default takes no params."""
        check_params(cls.name, params, ())
        return cls()

    def setup(self, resources: Resources) -> None:
        """Once per worker, before the first batch."""

    def __call__(self, batch: Any) -> Any:
        raise NotImplementedError

    def teardown(self) -> None:
        """When the worker closes (the shared clients are closed after this)."""


def check_params(stage: str, params: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(params) - set(allowed))
    if extra:
        what = f"allowed: {', '.join(sorted(allowed))}" if allowed else "it takes none"
        raise StageConfigError(f"unknown {stage} settings: {', '.join(extra)} ({what})")


@dataclass(frozen=True)
class StageEntry:
    """Where a stage's class is (``module:Class``) and where it may stand in a graph."""

    target: str
    #: Stages that must be in the graph, before this one (``decode`` is always first).
    requires: tuple[str, ...] = ()
    #: Stages that must run before this one when both are in a graph ...
    after: tuple[str, ...] = ()
    #: ... and after it.
    before: tuple[str, ...] = ()


#: name -> entry, in the order of the full batch path.
STAGES: dict[str, StageEntry] = {}


def register_stage(name: str, target: str, *, requires: tuple[str, ...] = (),
                   after: tuple[str, ...] = (), before: tuple[str, ...] = ()) -> None:
    STAGES[name] = StageEntry(target, requires, after, before)


def stage_class(name: str) -> type[Stage]:
    try:
        entry = STAGES[name]
    except KeyError:
        raise StageConfigError(f"unknown stage {name!r}; known stages: "
                               f"{', '.join(STAGES)}") from None
    module, _, attribute = entry.target.partition(":")
    cls: type[Stage] = getattr(import_module(module), attribute)
    if cls.name != name:
        raise StageConfigError(f"{entry.target} calls itself {cls.name!r}, not {name!r}")
    return cls


def configure_stage(settings: Settings, survey: str, name: str,
                    params: Mapping[str, Any] | None = None) -> Stage:
    """The stage ``name`` configured on the driver (validated, ready to pickle)."""
    return stage_class(name).configure(settings, survey, dict(params or {}))


def set_up(stage: Stage, resources: Resources | None = None) -> Stage:
    """A set-up copy of a configured stage, to run it in this process (tests, tools);
    the configured one stays as it was."""
    ready = copy.copy(stage)
    ready.setup(resources or Resources())
    return ready


_STORED = ("write",)  # what a stage adds is stored only if it runs before the write
register_stage("decode", "boom_flow.stages.decode:DecodeStage")
register_stage("history", "boom_flow.stages.history:HistoryStage", before=_STORED)
register_stage("aliases", "boom_flow.stages.aliases:AliasesStage", before=_STORED)
register_stage("crossmatch", "boom_flow.stages.crossmatch:CrossmatchStage",
               requires=("history",), before=_STORED)
# LSST's star / near_brightstar read the point-source matches the crossmatch adds.
register_stage("features", "boom_flow.stages.features:FeaturesStage", requires=("history",),
               after=("crossmatch",), before=_STORED)
register_stage("classify", "boom_flow.stages.classify:ClassifyStage", requires=("history",),
               before=_STORED)
# Filters see the aliases, when the graph looks for them.
register_stage("filter", "boom_flow.stages.filter:FilterStage", requires=("history",),
               after=("aliases",), before=_STORED)
register_stage("write", "boom_flow.stages.write:WriteStage")
register_stage("publish", "boom_flow.stages.publish:PublishStage", requires=("write",),
               after=("filter",))
