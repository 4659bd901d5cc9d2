"""The dataflow's promises: batches in order, commits only after success, failure stops."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import dask
import pytest
from distributed import Client, LocalCluster

from boom_flow.config import Settings
from boom_flow.core import RawBatch, RawPacket
from boom_flow.pipeline.flow import Pipeline, PipelineError
from boom_flow.pipeline.resources import Connections
from boom_flow.pipeline.worker import BatchPlan
from boom_flow.stages import Stage, configure_stage
from tests.conftest import free_port


def _plan(settings: Settings, mongo_uri: str | None = None) -> BatchPlan:
    mongo = settings.services.mongodb
    return BatchPlan(survey="ztf",
                     stages=tuple(configure_stage(settings, "ztf", name)
                                  for name in ("decode", "write")),
                     connections=Connections(mongo_uri=mongo_uri or mongo.connection_uri,
                                             mongo_database=mongo.database,
                                             mongo_options={"serverSelectionTimeoutMS": 300}))


def _batches(shared_data: Path, token_base: int) -> list[RawBatch]:
    files = sorted((shared_data / "ztf" / "alerts" / "boom_20240716").glob("*.avro"))
    return [RawBatch((RawPacket(path.read_bytes(), str(path)),), commit=token_base + i)
            for i, path in enumerate(files[:4])]


def test_commits_follow_storage_in_emission_order(
    settings: Settings, mongo_db: Any, dask_client: Any, shared_data: Path
) -> None:
    committed: list[int] = []
    batches = _batches(shared_data, 100)
    stored_then: dict[int, bool] = {}

    def commit(token: int) -> None:
        # Commit after write: the batch's alert is in the archive when its token comes.
        stored_then[token] = mongo_db.ZTF_alerts.count_documents({}) > token - 100
        committed.append(token)

    with Pipeline(dask_client, _plan(settings), max_in_flight=2, commit=commit) as pipeline:
        assert pipeline.in_flight == 0 and pipeline.has_idle_worker()
        for raw in batches:
            pipeline.push(raw)
            assert pipeline.in_flight <= 2
        pipeline.drain(timeout_s=60)
    assert committed == [100, 101, 102, 103]
    assert stored_then == dict.fromkeys(committed, True)
    assert pipeline.summary.stored == 4
    assert mongo_db.ZTF_alerts.count_documents({}) == 4


def test_a_failed_batch_stops_the_run_and_nothing_is_committed(
    settings: Settings, dask_client: Any, shared_data: Path
) -> None:
    committed: list[int] = []
    unreachable = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    with Pipeline(dask_client, _plan(settings, unreachable), max_in_flight=2,
                  commit=committed.append) as pipeline:
        with pytest.raises(PipelineError, match="ServerSelectionTimeoutError"):
            for raw in _batches(shared_data, 0):
                pipeline.push(raw)
            pipeline.drain(timeout_s=60)
        assert committed == []
        with pytest.raises(PipelineError):
            pipeline.push(_batches(shared_data, 9)[0])


@dataclass
class KillsItsWorker(Stage):
    name: ClassVar[str] = "kills_its_worker"
    # (as if it did I/O: not run by the warm-up at set-up, only on batches)
    needs: ClassVar[frozenset[str]] = frozenset({"mongo"})

    def __call__(self, batch: Any) -> Any:
        os._exit(1)


def test_a_task_lost_with_its_worker_stops_the_run_without_hanging_or_committing(
    settings: Settings, shared_data: Path
) -> None:
    committed: list[int] = []
    plan = _plan(settings)
    plan = replace(plan, stages=(plan.stages[0], KillsItsWorker()))
    # No retry on another worker: the first loss is final.
    with (dask.config.set({"distributed.scheduler.allowed-failures": 0}),
          LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                       dashboard_address=":0", memory_limit="1GiB") as cluster,
          Client(cluster) as client,
          Pipeline(client, plan, max_in_flight=1, commit=committed.append) as pipeline,
          pytest.raises(PipelineError, match="a batch task was lost: KilledWorker")):
        for raw in _batches(shared_data, 0):
            pipeline.push(raw)
        pipeline.drain(timeout_s=120)
    assert committed == []
