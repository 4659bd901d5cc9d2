"""The ceilings: what one step alone achieves on the same cluster, in the same run.

A pipeline's rate says little by itself on a shared 2-core machine; stated as a
fraction of what decoding alone, the models alone and the database writes alone reach
on the same workers, with the same packets and the same documents, it says how much
the rest of the design costs. Each ceiling runs as Dask tasks on the benchmark's own
cluster, using the pipeline's own cached decoder, stages and database client (so the
models are loaded once and the numbers compare like with like).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pymongo
from distributed import Client, wait

from boom_flow.core import AlertBatch, RawPacket
from boom_flow.pipeline.worker import BatchPlan
from boom_flow.pipeline.worker import _database as cached_database  # the pipeline's own
from boom_flow.pipeline.worker import _stages as cached_stages
from boom_flow.pipeline.worker import _survey as cached_survey
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.storage.known import load_known

#: The stage whose time is "model inference".
INFERENCE_STAGE = "classify"


def _decode(packets: Sequence[RawPacket], plan: BatchPlan) -> AlertBatch:
    return cached_survey(plan.survey, plan.survey_options).decode(list(packets))


def decode_task(packets: Sequence[RawPacket], plan: BatchPlan) -> tuple[int, float]:
    started = time.perf_counter()
    batch = _decode(packets, plan)
    return len(batch), time.perf_counter() - started


def prepare_task(packets: Sequence[RawPacket], plan: BatchPlan) -> AlertBatch:
    """A batch as the pipeline has it just before the write: decoded, with its known
    history, through every stage."""
    batch = _decode(packets, plan)
    database = cached_database(plan.mongo_uri, plan.mongo_database, plan.mongo_options)
    batch = load_known(database, batch)
    for stage in cached_stages(plan.stages):
        batch = stage(batch)
    return batch


def inference_task(batch: AlertBatch, plan: BatchPlan) -> tuple[int, float]:
    stages = dict(zip((name for name, _ in plan.stages), cached_stages(plan.stages),
                      strict=True))
    started = time.perf_counter()
    stages[INFERENCE_STAGE](batch)
    return len(batch), time.perf_counter() - started


def write_task(batch: AlertBatch, plan: BatchPlan, database: str) -> tuple[int, float]:
    target = cached_database(plan.mongo_uri, database, plan.mongo_options)
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
    results["decode"] = _timed(client, decode_task, scattered, plan=plan)
    prepared = client.map(prepare_task, scattered, plan=plan, pure=False)
    wait(prepared)
    if INFERENCE_STAGE in {name for name, _ in plan.stages}:
        results["inference"] = _timed(client, inference_task, prepared, plan=plan)
    with pymongo.MongoClient(plan.mongo_uri, **dict(plan.mongo_options)) as mongo:
        mongo.drop_database(scratch_database)
        ensure_indexes(mongo[scratch_database], plan.survey.upper())
        try:
            results["write"] = _timed(client, write_task, prepared, plan=plan,
                                      database=scratch_database)
        finally:
            mongo.drop_database(scratch_database)
    del prepared, scattered
    return results

