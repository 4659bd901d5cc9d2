"""One benchmark run, start to finish: prepare, ceilings, throughput, latency.

The measured pipeline is ``boom_flow.pipeline.run.run_pipeline`` itself, reading the
night from the real Kafka-compatible broker and writing into the real
MongoDB-compatible server on a LocalCluster sized to the machine; this module only
prepares its input, watches it (``metrics``) and times the same steps alone
(``ceilings``).

Order of a run:
1. earlier nights go through the pipeline (untimed) so objects have a history;
2. the measured night is produced to Kafka, whole, before the pipeline starts
   (like a backlog: the throughput run is never waiting for its producer);
3. the throughput run consumes the night while the workers' RSS is sampled;
4. a latency run streams fresh alerts at a fraction of the measured rate, so the
   latency is the pipeline's and not the backlog's queueing time;
5. the ceilings run last, on a sample of the same night, so that what they leave in
   the workers' memory does not count against the pipeline.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dask.utils import parse_bytes
from distributed import Client

from boom_flow.bench import extras
from boom_flow.bench.ceilings import measure_ceilings
from boom_flow.bench.machine import comparison, machine_info, versions
from boom_flow.bench.metrics import (
    MemorySampler,
    OutcomeRecorder,
    now_ms,
    percentiles,
    stage_table,
)
from boom_flow.bench.stack import server_pids
from boom_flow.bench.workload import (
    WorkloadSpec,
    create_topic,
    delete_topics,
    describe,
    night_alerts,
    prior_night_dates,
    produce,
)
from boom_flow.config import Settings
from boom_flow.core import RawPacket
from boom_flow.pipeline.cluster import dask_client
from boom_flow.pipeline.graph import BatchOverrides, GraphSpec, SourceSpec, StageSpec
from boom_flow.pipeline.run import make_plan, run_pipeline
from boom_flow.stages import STAGES, configure_stage

log = logging.getLogger(__name__)

#: The benchmark graph's stages, in order; each runs only when it is installed.
WANTED_STAGES = ("crossmatch", "features", "classify", "filter")
#: Alerts sent before the latency stream, so the consumer group has joined.
_WARMUP_ALERTS = 20
#: A run that stops receiving for this long has lost its input: end it.
_IDLE_TIMEOUT_S = 120.0
_MIN_WORKER_MEMORY = "8GiB"

Progress = Callable[[str], None]


@dataclass
class BenchContext:
    settings: Settings
    spec: WorkloadSpec
    progress: Progress
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    topics: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def topic(self, role: str) -> str:
        name = f"bench_{self.run_id}_{role}"
        create_topic(self.settings.services.kafka.bootstrap, name)
        self.topics.append(name)
        return name

    def step(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 2)


def stages_to_run() -> list[str]:
    return [name for name in WANTED_STAGES if name in STAGES]


def usable_stages(settings: Settings, stages: list[str], params: dict[str, dict[str, Any]]
                  ) -> tuple[list[str], dict[str, str]]:
    """The stages that configure here (on the driver, once), and why the others do
    not: a stage that cannot start is left out and reported, not fatal."""
    usable, broken = [], {}
    for name in stages:
        try:
            configure_stage(settings, "ztf", name, params.get(name, {}))
        except Exception as error:  # any failure: the report says which and why
            broken[name] = f"{type(error).__name__}: {error}"
        else:
            usable.append(name)
    return usable, broken


def bench_settings(settings: Settings, run_id: str) -> Settings:
    """The configuration with a database and a consumer group of the run's own (both
    removed at the end, so ``--use-services`` leaves nothing behind) and a cluster of one
    single-threaded worker per core, each allowed at least ``_MIN_WORKER_MEMORY``: the
    benchmark measures the workers' memory, so the nanny must not restart a worker
    that needs more than the default limit (its peak is reported instead)."""
    cores = os.cpu_count() or 1
    kafka = settings.services.kafka.model_copy(update={"group_id": f"boom-flow-bench-{run_id}"})
    mongo = settings.services.mongodb
    mongo = mongo.model_copy(update={"database": f"{mongo.database}_bench_{run_id}"})
    services = settings.services.model_copy(update={"kafka": kafka, "mongodb": mongo})
    limit = settings.dask.memory_limit
    if limit != "auto" and parse_bytes(limit) < parse_bytes(_MIN_WORKER_MEMORY):
        limit = _MIN_WORKER_MEMORY
    dask = settings.dask.model_copy(update={"n_workers": cores, "threads_per_worker": 1,
                                            "memory_limit": limit})
    return settings.model_copy(update={"services": services, "dask": dask})


def kafka_graph(topic: str, stages: list[str], batch_alerts: int,
                params: dict[str, dict[str, Any]] | None = None) -> GraphSpec:
    params = params or {}
    return GraphSpec(
        survey="ztf",
        source=SourceSpec(kind="kafka", topics=[topic], idle_timeout_s=_IDLE_TIMEOUT_S),
        stages=[StageSpec(name=name, params=params.get(name, {})) for name in stages],
        batch=BatchOverrides(max_alerts=batch_alerts),
    )


def run_benchmark(settings: Settings, spec: WorkloadSpec, progress: Progress = print
                  ) -> dict[str, Any]:
    """Run the whole benchmark; return the results (``report`` writes them)."""
    started_at = datetime.now(UTC)
    ctx = BenchContext(settings, spec, progress)
    ctx.settings = bench_settings(settings, ctx.run_id)
    stages = stages_to_run()
    results: dict[str, Any] = {
        "benchmark": "boom-flow bench",
        "mode": spec.mode,
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(),
    }
    setup = extras.Setup(ctx.settings)
    setup.cleanups.append(lambda: extras.drop_database(ctx.settings))
    try:
        started = time.monotonic()
        setup = extras.prepare(setup, spec, stages, ctx.run_id, progress)
        ctx.step("prepare_stages", started)
        ctx.settings = setup.settings
        stages, broken = usable_stages(ctx.settings, stages, setup.stage_params)
        for name, reason in broken.items():
            progress(f"stage {name} cannot start, running without it: {reason}")
        results["stages_broken"] = broken
        with dask_client(ctx.settings.dask) as client:
            results.update(_measure(ctx, client, stages, setup))
    finally:
        delete_topics(ctx.settings.services.kafka.bootstrap, ctx.topics)
        setup.cleanup()
    results["preparation_s"] = ctx.timings
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def _measure(ctx: BenchContext, client: Client, stages: list[str],
             setup: extras.Setup) -> dict[str, Any]:
    spec, settings = ctx.spec, ctx.settings
    workers = client.run(os.getpid)
    history_stages = [s for s in stages if s == "crossmatch"]
    _preload_history(ctx, client, history_stages, setup)

    started = time.monotonic()
    ctx.progress(f"producing the night: {spec.n_alerts} alerts to Kafka")
    night_topic = ctx.topic("night")
    produce(settings.services.kafka.producer_config(), night_topic, night_alerts(spec))
    ctx.step("produce_night", started)

    graph = kafka_graph(night_topic, stages, spec.batch_alerts, setup.stage_params)
    ctx.progress(f"throughput: the pipeline ({', '.join(['decode', *stages, 'write'])}) "
                 f"on {spec.n_alerts} alerts from Kafka")
    recorder = OutcomeRecorder(expected_packets=spec.n_alerts)
    with MemorySampler(workers) as memory, MemorySampler(server_pids(settings)) as servers:
        summary = run_pipeline(settings, graph, stop=recorder.stop, on_outcome=recorder,
                               client=client)
    throughput = recorder.throughput(len(workers))
    latency = _latency_run(ctx, client, stages, setup, throughput)

    # Last, on warm workers: each step alone on a sample of the same night, with the
    # same plan (the same stages, models, catalogs and filters).
    started = time.monotonic()
    ctx.progress(f"ceilings: decode, inference and write alone on {spec.ceiling_alerts} alerts")
    sample = [RawPacket(a.data, "bench")
              for a in night_alerts(spec, limit=spec.ceiling_alerts)]
    ceilings = measure_ceilings(client, make_plan(settings, graph), sample, spec.batch_alerts,
                                f"{settings.services.mongodb.database}_ceiling")
    del sample
    ctx.step("ceilings", started)
    stage_rows = stage_table(recorder.stage_seconds(), recorder.alerts)
    return {
        "parameters": {
            **describe(spec),
            "alert_source": "boom_flow.simulate (ZTF 4.02 packets)",
            "stages": ["decode", "history", *stages, "write"],
            "stages_missing": [s for s in WANTED_STAGES if s not in stages],
            "stages_missing_why": "not installed (not in boom_flow.stages.STAGES) "
                                  "or failed to start (see stages_broken)",
            "dask_workers": len(workers),
            "threads_per_worker": settings.dask.threads_per_worker,
            "worker_memory_limit": settings.dask.memory_limit,
            "max_in_flight": settings.batch.max_in_flight,
            "batch_max_ms": settings.batch.max_ms,
            **setup.parameters,
        },
        "throughput": {**throughput, "stored": summary.stored,
                       "duplicates": summary.duplicates, "rejected": summary.rejected},
        "stages": stage_rows,
        "latency": latency,
        "memory": {**memory.summary(), "servers": servers.summary()["workers"]},
        "ceilings": ceilings,
        "fractions": fractions(throughput, stage_rows, ceilings),
        "comparison": comparison(throughput["alerts_per_s"], len(workers)),
    }


def _preload_history(ctx: BenchContext, client: Client, stages: list[str],
                     setup: extras.Setup) -> None:
    nights = prior_night_dates(ctx.spec)
    if not nights:
        return
    started = time.monotonic()
    total = len(nights) * ctx.spec.n_alerts
    ctx.progress(f"history: {len(nights)} earlier night(s) of the same objects ({total} "
                 f"alerts; stages: decode, {', '.join([*stages, 'write'])}) stored before timing")
    topic = ctx.topic("history")
    for night_jd in nights:
        produce(ctx.settings.services.kafka.producer_config(), topic,
                night_alerts(ctx.spec, night_jd))
    recorder = OutcomeRecorder(expected_packets=total)
    run_pipeline(ctx.settings, kafka_graph(topic, stages, ctx.spec.batch_alerts,
                                           setup.stage_params),
                 stop=recorder.stop, on_outcome=recorder, client=client)
    ctx.step("history", started)


def _latency_run(ctx: BenchContext, client: Client, stages: list[str], setup: extras.Setup,
                 throughput: dict[str, Any]) -> dict[str, Any]:
    spec, settings = ctx.spec, ctx.settings
    if spec.latency_alerts <= 0:
        return {}
    steady = throughput.get("steady_alerts_per_s") or throughput.get("alerts_per_s") or 1.0
    rate = max(1.0, steady * spec.latency_rate_fraction)
    topic = ctx.topic("latency")
    # The next night of the same sky: fresh alerts of objects the archive knows (that
    # night has n_alerts alerts: the warm-up and the measured ones come out of them).
    warmup = min(_WARMUP_ALERTS, max(1, spec.n_alerts // 4))
    measured = min(spec.latency_alerts, spec.n_alerts - warmup)
    alerts = list(night_alerts(spec, spec.night_jd + 1, warmup + measured))
    ctx.progress(f"latency: {measured} fresh alerts streamed at {rate:.1f}/s "
                 f"({spec.latency_rate_fraction:.0%} of the measured rate)")
    recorder = OutcomeRecorder(expected_packets=len(alerts))
    sent: dict[int, int] = {}
    paced_from = [float("inf")]
    producer_config = settings.services.kafka.producer_config()

    def stream() -> None:
        produce(producer_config, topic, iter(alerts[:warmup]))
        recorder.first_done.wait(_IDLE_TIMEOUT_S)
        paced_from[0] = now_ms() - 1
        sent.update(produce(producer_config, topic, iter(alerts[warmup:]), rate=rate))

    producer = threading.Thread(target=stream, name="latency-producer", daemon=True)
    since = now_ms()
    producer.start()
    graph = kafka_graph(topic, stages, spec.batch_alerts, setup.stage_params)
    run_pipeline(settings, graph, stop=recorder.stop, on_outcome=recorder, client=client)
    producer.join()
    # The warm-up alerts (sent before the group joined) are not the pipeline's latency.
    completion = [lat for lat, ts in recorder.completion_latencies() if ts >= paced_from[0]]
    results = extras.filter_result_times(settings, setup, since)
    to_result = [results[a] - sent[a] for a in sent if a in results]
    headline = "to_filter_result" if to_result else "to_batch_completion"
    return {
        "rate_alerts_per_s": round(rate, 1),
        "alerts": measured,
        "warmup_alerts_excluded": warmup,
        "headline": headline,
        "to_filter_result": percentiles(to_result),
        "to_batch_completion": percentiles(completion),
        "alerts_passing_a_filter": len(to_result),
    }


def fractions(throughput: dict[str, Any], stages: list[dict[str, Any]],
              ceilings: dict[str, Any]) -> dict[str, Any]:
    """Each result as a fraction of its ceiling: the pipeline's end-to-end rate against
    each step alone on the cluster, and each stage's cost per alert inside the
    pipeline against the same step's cost alone."""
    rate = throughput.get("steady_alerts_per_s") or throughput.get("alerts_per_s") or 0.0
    per_stage = {row["stage"]: row for row in stages}
    out: dict[str, Any] = {}
    for step, stage in (("decode", "decode"), ("inference", "classify"), ("write", "write")):
        ceiling = ceilings.get(step)
        if not ceiling or not ceiling.get("alerts_per_s"):
            continue
        entry = {"pipeline_alerts_per_s_vs_ceiling": round(rate / ceiling["alerts_per_s"], 3)}
        row = per_stage.get(stage)
        if row and row.get("ms_per_alert") and ceiling.get("ms_per_alert"):
            entry["stage_cost_ceiling_over_pipeline"] = round(
                ceiling["ms_per_alert"] / row["ms_per_alert"], 3)
        out[step] = entry
    return out
