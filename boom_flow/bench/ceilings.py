"""The ceilings: what one step alone achieves on the same cluster, in the same run.

A pipeline's rate says little by itself on a shared 2-core machine; stated as a
fraction of what decoding alone, the models alone and the database writes alone reach
on the same workers, with the same packets and the same documents, it says how much
the rest of the design costs. Each ceiling runs as Dask tasks on the benchmark's own
cluster, using the pipeline's own stages and database client, set up on the workers by
the pipeline's worker plugin (so the models are loaded once, before the first task, and
the numbers compare like with like).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pymongo
from distributed import Client, wait

from boom_flow.core import AlertBatch, RawBatch, RawPacket
from boom_flow.pipeline.worker import BatchPlan, current_workbench, installed
from boom_flow.storage import ensure_indexes, write_batch

#: The stage whose time is "model inference".
INFERENCE_STAGE = "classify"


def _decode(packets: Sequence[RawPacket], plugin: str) -> AlertBatch:
    return current_workbench(plugin).stage("decode")(RawBatch(tuple(packets)))


def decode_task(packets: Sequence[RawPacket], plugin: str) -> tuple[int, float]:
    started = time.perf_counter()
    batch = _decode(packets, plugin)
    return len(batch), time.perf_counter() - started


def prepare_task(packets: Sequence[RawPacket], plugin: str) -> AlertBatch:
    """A batch as the pipeline has it just before the write: decoded, with its known
    history, through every stage."""
    value: Any = RawBatch(tuple(packets))
    for stage in current_workbench(plugin).stages:
        if stage.name == "write":
            break
        value = stage(value)
    return value


def inference_task(batch: AlertBatch, plugin: str) -> tuple[int, float]:
    stage = current_workbench(plugin).stage(INFERENCE_STAGE)
    started = time.perf_counter()
    stage(batch)
    return len(batch), time.perf_counter() - started


def write_task(batch: AlertBatch, plugin: str, database: str) -> tuple[int, float]:
    target = current_workbench(plugin).resources.get("mongo").client[database]
    # The batch's known aux documents are the archive's, not the scratch database's:
    # the write plans from a read of its own target.
    batch = replace(batch, known=None)
    started = time.perf_counter()
    write_batch(target, batch)
    return len(batch), time.perf_counter() - started


def _timed(client: Client, function: Any, inputs: list[Any], **kwargs: Any) -> dict[str, Any]:
    """Run ``function`` over ``inputs`` on the cluster; the wall time of the whole set
    gives the cluster's rate, the tasks' own time the rate per busy core."""
    started = time.perf_counter()
    results = client.gather(client.map(function, inputs, pure=False, **kwargs))
    wall = time.perf_counter() - started
    alerts = sum(n for n, _ in results)
    busy = sum(seconds for _, seconds in results)
    return {
        "alerts": alerts,
        "wall_s": round(wall, 3),
        "alerts_per_s": round(alerts / wall, 1) if wall > 0 else None,
        "task_seconds": round(busy, 3),
        "ms_per_alert": round(busy / alerts * 1000, 3) if alerts else None,
        "alerts_per_core_s": round(alerts / busy, 1) if busy > 0 else None,
    }


def measure_ceilings(client: Client, plan: BatchPlan, packets: list[RawPacket],
                     batch_alerts: int, scratch_database: str) -> dict[str, Any]:
    """Decode alone, inference alone and write alone over ``packets``, in batches of
    the pipeline's size, spread over the cluster's workers (already warm: schemas,
    models and connections loaded by the pipeline run)."""
    # Batches of the pipeline's size, but at least one per worker so that every
    # worker takes part even in a small sample.
    workers = max(len(client.scheduler_info()["workers"]), 1)
    size = max(1, min(batch_alerts, -(-len(packets) // workers)))
    chunks = [tuple(packets[i:i + size]) for i in range(0, len(packets), size)]
    scattered = client.scatter(chunks)
    results: dict[str, Any] = {"alerts": len(packets), "batches": len(chunks)}
    connections = plan.connections
    with installed(client, plan) as plugin, \
            pymongo.MongoClient(connections.mongo_uri, **connections.mongo_options) as mongo:
        results["decode"] = _timed(client, decode_task, scattered, plugin=plugin)
        prepared = client.map(prepare_task, scattered, plugin=plugin, pure=False)
        wait(prepared)
        if INFERENCE_STAGE in plan.stage_names:
            results["inference"] = _timed(client, inference_task, prepared, plugin=plugin)
        mongo.drop_database(scratch_database)
        ensure_indexes(mongo[scratch_database], plan.survey.upper())
        try:
            results["write"] = _timed(client, write_task, prepared, plugin=plugin,
                                      database=scratch_database)
        finally:
            mongo.drop_database(scratch_database)
        del prepared, scattered
    return results

