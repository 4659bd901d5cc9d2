"""The dataflow's promises: batches in order, commits only after success, failure stops."""

from __future__ import annotations

import os
import time
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
from boom_flow.simulate import NightSpec, simulate_night
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


@dataclass
class TakesTime(Stage):
    """Half a second per alert, and nothing else: which worker is busy, and how long."""

    name: ClassVar[str] = "takes_time"
    needs: ClassVar[frozenset[str]] = frozenset()

    def __call__(self, batch: Any) -> Any:
        time.sleep(0.5 * len(batch))
        return batch


def _simulated(alerts: int, token: int) -> RawBatch:
    spec = NightSpec(survey="ztf", n_alerts=alerts, n_objects=alerts, seed=token)
    return RawBatch(tuple(RawPacket(alert.packet, "sim") for alert in simulate_night(spec)),
                    commit=token)


@pytest.mark.parametrize(("max_in_flight", "idle"), [(4, True), (2, False)])
def test_a_worker_done_before_an_earlier_batch_counts_as_idle(
    settings: Settings, dask_client: Any, max_in_flight: int, idle: bool
) -> None:
    # Commits follow emission order, so the small batch stays uncommitted behind the
    # large one; its worker is free all the same, and a batch closed now starts at
    # once there, unless push would block on max_in_flight.
    plan = replace(_plan(settings), stages=(configure_stage(settings, "ztf", "decode"),
                                            TakesTime()))
    committed: list[int] = []
    # Whole batches, one worker each (routed, the large one would take both).
    with Pipeline(dask_client, plan, max_in_flight=max_in_flight,
                  commit=committed.append, route_by_object=False) as pipeline:
        pipeline.push(_simulated(8, 1))  # four seconds
        pipeline.push(_simulated(1, 2))  # half a second, on the other worker
        deadline = time.monotonic() + 3
        while not pipeline.has_idle_worker() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipeline.has_idle_worker() is idle
        assert pipeline.in_flight == 2 and committed == []
        pipeline.drain(timeout_s=60)
    assert committed == [1, 2]


@dataclass
class CountsObjects(Stage):
    """Reports, as ``object:{objectId}`` counts, the objects of the batch it saw."""

    name: ClassVar[str] = "counts_objects"
    needs: ClassVar[frozenset[str]] = frozenset()

    def __call__(self, batch: Any) -> Any:
        return batch.with_counts(**{f"object:{oid}": 1 for oid in batch.alerts["objectId"]})


def test_each_object_is_processed_by_one_worker_and_merged_without_rereads(
    settings: Settings, mongo_db: Any, dask_client: Any
) -> None:
    # Eight batches of one night, every object in most of them, two in flight at once:
    # unrouted, both workers would merge the same objects at the same time.
    spec = NightSpec(survey="ztf", n_alerts=160, n_objects=12, prior_nights=2, seed=31)
    packets = [RawPacket(alert.packet, "sim") for alert in simulate_night(spec)]
    batches = [RawBatch(tuple(packets[i:i + 20]), commit=i) for i in range(0, 160, 20)]
    stages = (*(configure_stage(settings, "ztf", name) for name in ("decode", "history", "write")),
              CountsObjects())
    seen: dict[str, set[str]] = {}
    workers: list[str | None] = []

    def on_outcome(outcome: Any) -> None:
        workers.append(outcome.worker)
        for key in outcome.counts:
            if key.startswith("object:"):
                seen.setdefault(key.removeprefix("object:"), set()).add(outcome.worker)

    with Pipeline(dask_client, replace(_plan(settings), stages=stages), max_in_flight=2,
                  on_outcome=on_outcome) as pipeline:
        for raw in batches:
            pipeline.push(raw)
        pipeline.drain(timeout_s=120)
    assert len(seen) >= 12
    assert all(len(owners) == 1 for owners in seen.values()), seen
    assert set(workers) == set(dask_client.nthreads()), "both workers took a share"
    assert pipeline.summary.alerts == 160 and pipeline.summary.aux_reads == 0
    assert mongo_db.ZTF_alerts_aux.count_documents({}) == len(seen)
