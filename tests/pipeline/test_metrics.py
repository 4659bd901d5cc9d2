"""Stage times go through Dask's own metrics: the worker's digests and the scheduler's
fine performance metrics name each stage, and the outcome's seconds are the same
numbers."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from distributed import Client

from boom_flow.config import load_settings
from boom_flow.core import RawBatch, RawPacket
from boom_flow.pipeline.resources import Connections
from boom_flow.pipeline.worker import BatchPlan, installed, process_batch
from boom_flow.stages import configure_stage

STAGES = ("decode", "features")


def _stage_seconds(dask_worker: Any) -> dict[str, float]:
    totals: defaultdict[str, float] = defaultdict(float)
    for key, value in dask_worker.digests_total.items():
        if isinstance(key, tuple) and key[0] == "execute" and key[-2] in STAGES:
            totals[key[-2]] += value
    return dict(totals)


def _scheduler_stages(dask_scheduler: Any) -> set[tuple[str, ...]]:
    return {key for key in dask_scheduler.cumulative_worker_metrics
            if isinstance(key, tuple) and key[0] == "execute" and key[2] in STAGES}


def test_stage_times_are_dask_fine_performance_metrics(
        dask_client: Client, shared_data: Path) -> None:
    settings = load_settings(environ={})
    plan = BatchPlan(survey="ztf", stages=tuple(configure_stage(settings, "ztf", name)
                                                for name in STAGES),
                     connections=Connections.from_settings(settings))
    paths = sorted((shared_data / "ztf" / "alerts" / "boom_20240716").glob("*.avro"))[:5]
    raw = RawBatch(tuple(RawPacket(path.read_bytes(), str(path)) for path in paths))
    address = next(iter(dask_client.scheduler_info()["workers"]))
    with installed(dask_client, plan) as plugin:
        before = dask_client.run(_stage_seconds, workers=[address])[address]
        outcome = dask_client.submit(process_batch, raw, plugin, pure=False,
                                     workers=[address]).result()
        after = dask_client.run(_stage_seconds, workers=[address])[address]
    assert outcome.error is None and set(outcome.seconds) == set(STAGES)
    for stage in STAGES:
        # The outcome's seconds are what the worker's meter recorded for this task.
        recorded = after.get(stage, 0.0) - before.get(stage, 0.0)
        assert outcome.seconds[stage] > 0
        assert recorded == pytest.approx(outcome.seconds[stage], rel=1e-9)
    # The scheduler gets them with the worker's heartbeat: what the dashboard's Fine
    # Performance Metrics page shows, under the task prefix and the stage name.
    expected = {("execute", "process_batch", stage, "seconds") for stage in STAGES}
    deadline = time.monotonic() + 30
    while not expected <= dask_client.run_on_scheduler(_scheduler_stages):
        assert time.monotonic() < deadline, "no stage metrics on the scheduler"
        time.sleep(0.2)
