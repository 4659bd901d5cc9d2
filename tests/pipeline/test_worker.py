"""The worker's loop over stages, with in-memory resources (this is not about I/O):
every stage runs in order and is timed, counts come back, a failure is an outcome."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from boom_flow.config import load_settings
from boom_flow.core import AlertBatch, RawBatch, RawPacket
from boom_flow.pipeline.worker import Workbench
from boom_flow.stages import Resources, Stage, configure_stage


class MemoryWrite(Stage):
    """Stores alert ids in the ``database`` resource (here a plain dict)."""

    name: ClassVar[str] = "memory_write"
    needs: ClassVar[frozenset[str]] = frozenset({"mongo"})

    def setup(self, resources: Resources) -> None:
        self.store: dict[Any, Any] = resources.get("mongo")

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        ids = batch.alerts["_id"].tolist()
        new = [i for i in ids if i not in self.store]
        self.store.update(dict.fromkeys(ids, batch.survey))
        return batch.with_counts(stored=len(new), duplicates=len(ids) - len(new))


@dataclass
class Broken(Stage):
    name: ClassVar[str] = "broken"

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        raise ZeroDivisionError("a stage bug")


def _raw(shared_data: Path, count: int = 3) -> RawBatch:
    files = sorted((shared_data / "ztf" / "alerts" / "boom_20240716").glob("*.avro"))[:count]
    return RawBatch(tuple(RawPacket(path.read_bytes(), str(path), timestamp_ms=1000 + i)
                          for i, path in enumerate(files)))


@pytest.fixture
def stages() -> list[Stage]:
    settings = load_settings(environ={})
    return [configure_stage(settings, "ztf", "decode"),
            configure_stage(settings, "ztf", "features"), MemoryWrite()]


def test_each_stage_runs_once_per_batch_is_timed_and_reports_counts(
        shared_data: Path, stages: list[Stage]) -> None:
    store: dict[Any, Any] = {}
    workbench = Workbench(stages, Resources(database=store))
    first = workbench.process(_raw(shared_data))
    assert first.error is None
    assert list(first.seconds) == ["decode", "features", "memory_write"]
    assert all(seconds > 0 for seconds in first.seconds.values())
    assert (first.packets, first.alerts, first.stored, first.duplicates) == (3, 3, 3, 0)
    assert first.counts == {"stored": 3, "duplicates": 0}
    assert first.timestamps_ms == [1000, 1001, 1002]
    assert len(store) == 3
    again = workbench.process(_raw(shared_data))
    assert (again.stored, again.duplicates) == (0, 3)
    # The plan's stages stay configuration: only the workbench's copies were set up.
    assert not hasattr(stages[-1], "store")


def test_a_failing_stage_becomes_the_outcome_and_the_rest_does_not_run(
        shared_data: Path, stages: list[Stage]) -> None:
    store: dict[Any, Any] = {}
    workbench = Workbench([*stages[:2], Broken(), stages[2]], Resources(database=store))
    outcome = workbench.process(_raw(shared_data))
    assert outcome.error is not None and "ZeroDivisionError: a stage bug" in outcome.error
    assert "decode" in outcome.seconds and "memory_write" not in outcome.seconds
    assert store == {} and outcome.stored == 0
