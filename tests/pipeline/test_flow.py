"""The dataflow's promises: batches in order, commits only after success, failure stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from boom_flow.config import Settings
from boom_flow.core import RawBatch, RawPacket
from boom_flow.pipeline.flow import Pipeline, PipelineError
from boom_flow.pipeline.resources import Connections
from boom_flow.pipeline.worker import BatchPlan
from boom_flow.stages import configure_stage
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
    with Pipeline(dask_client, _plan(settings), max_in_flight=2,
                  commit=committed.append) as pipeline:
        for raw in _batches(shared_data, 100):
            pipeline.push(raw)
        pipeline.drain(timeout_s=60)
    assert committed == [100, 101, 102, 103]
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


def test_no_more_than_max_in_flight_batches_are_ever_unfinished(
    settings: Settings, mongo_db: Any, dask_client: Any, shared_data: Path
) -> None:
    """Issue 16, defect 9: a stop request waited for 4 to 6 batches because streamz let
    more than ``max_in_flight`` in; a stop now finishes at most those in flight."""
    seen: list[int] = []
    with Pipeline(dask_client, _plan(settings), max_in_flight=1) as pipeline:
        for raw in _batches(shared_data, 0):
            pipeline.push(raw)
            seen.append(pipeline.unfinished)
        pipeline.drain(timeout_s=60)
    assert seen == [1, 1, 1, 1]
    assert pipeline.summary.stored == 4
