"""One benchmark run, start to finish: prepare, ceilings, throughput, latency.

The measured pipeline is ``boom_flow.pipeline.run.run_pipeline`` itself, reading the
night from the real Kafka-compatible broker and writing into the real
MongoDB-compatible server on a LocalCluster sized to the machine; this module only
prepares its input, watches it (``metrics``) and times the same steps alone
(``ceilings``).

Order of a run:
1. earlier nights go through the pipeline (untimed, in order, with every stage) so
   objects have a history;
2. the measured night is produced to Kafka, whole, before the pipeline starts
   (like a backlog: the throughput run is never waiting for its producer);
3. the throughput run consumes the night while the workers' RSS and every process's
   CPU (driver, scheduler, workers, servers: ``cpu``) are sampled; with several
   depths (``--prior-nights 1,10``) more nights are stored and 2-3 repeat;
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
from pathlib import Path
from typing import Any

from dask.utils import parse_bytes
from distributed import Client

from boom_flow.bench import extras
from boom_flow.bench.ceilings import measure_ceilings
from boom_flow.bench.cluster import bench_cluster
from boom_flow.bench.cpu import SERVER_PREFIX, CpuSampler, cpu_report, depth_rows
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
    history_nights,
    night_alerts,
    produce,
)
from boom_flow.config import Settings
from boom_flow.core import RawPacket
from boom_flow.pipeline.graph import (
    BatchOverrides,
    GraphError,
    GraphSpec,
    SourceSpec,
    StageSpec,
    load_graph,
)
from boom_flow.pipeline.run import make_plan, run_pipeline
from boom_flow.stages import STAGES, configure_stage

log = logging.getLogger(__name__)

#: The benchmark graph's stages per survey, in order (those of ``graphs/<survey>.yaml``
#: when the checkout has it); each runs only when it is installed.
WANTED_STAGES = {"ztf": ("crossmatch", "features", "classify", "filter"),
                 "lsst": ("crossmatch", "features", "filter")}
GRAPHS_DIR = Path(__file__).resolve().parents[2] / "graphs"
#: The batch path's own stages, which every graph completes around its enrichments.
PATH_STAGES = frozenset({"decode", "history", "aliases", "write", "publish"})
#: Where each survey's packets come from (reported with the parameters).
ALERT_SOURCES = {"ztf": "boom_flow.simulate (ZTF 4.02 packets)",
                 "lsst": "boom_flow.simulate (Rubin wire-format packets)"}
#: Alerts sent before the latency stream, so the consumer group has joined.
_WARMUP_ALERTS = 20
#: A run that stops receiving for this long has lost its input: end it.
_IDLE_TIMEOUT_S = 120.0
_MIN_WORKER_MEMORY = "8GiB"

Progress = Callable[[str], None]
#: Opens a progress meter for a phase (name, size) and returns what advances it.
Meter = Callable[[str, int], Callable[[int], None]]


def _no_meter(_desc: str, _total: int) -> Callable[[int], None]:
    return lambda _count: None


@dataclass
class BenchContext:
    settings: Settings
    spec: WorkloadSpec
    progress: Progress
    meter: Meter = _no_meter
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    topics: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def topic(self, role: str) -> str:
        name = f"bench_{self.run_id}_{role}"
        create_topic(self.settings.services.kafka.bootstrap, name)
        self.topics.append(name)
        return name

    def drop_topic(self, name: str) -> None:
        """Delete a consumed topic now (the embedded broker keeps every message in
        memory: ten stored nights of the full workload would not fit)."""
        delete_topics(self.settings.services.kafka.bootstrap, [name])
        self.topics.remove(name)

    def step(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 2)


def wanted_stages(survey: str, graphs_dir: Path = GRAPHS_DIR) -> list[str]:
    """The enrichment stages of the survey's graph file (``graphs/ztf.yaml``,
    ``graphs/lsst.yaml``) in their order, or the project's defaults when the checkout
    has no such file. The batch path around them (decode, history, aliases, write,
    publish) is completed by ``GraphSpec`` as for any short stage list."""
    path = graphs_dir / f"{survey}.yaml"
    if path.is_file():
        try:
            return [stage.name for stage in load_graph(path).stages
                    if stage.name not in PATH_STAGES]
        except GraphError:
            log.warning("graph %s cannot be read: the default stages run", path)
    return list(WANTED_STAGES[survey])


def stages_to_run(survey: str = "ztf") -> list[str]:
    return [name for name in wanted_stages(survey) if name in STAGES]


def usable_stages(settings: Settings, stages: list[str], params: dict[str, dict[str, Any]],
                  survey: str = "ztf") -> tuple[list[str], dict[str, str]]:
    """The stages that configure here (on the driver, once), and why the others do
    not: a stage that cannot start is left out and reported, not fatal."""
    usable, broken = [], {}
    for name in stages:
        try:
            configure_stage(settings, survey, name, params.get(name, {}))
        except Exception as error:  # any failure: the report says which and why
            broken[name] = f"{type(error).__name__}: {error}"
        else:
            usable.append(name)
    return usable, broken


def bench_settings(settings: Settings, run_id: str, spec: WorkloadSpec | None = None
                   ) -> Settings:
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
    update: dict[str, Any] = {"services": services, "dask": dask}
    if spec is not None and spec.survey == "lsst" and spec.lsst_schema_dir:
        # The decoder reads the schemas the simulator wrote with.
        lsst = settings.surveys.lsst.model_copy(update={"schema_dir": Path(spec.lsst_schema_dir)})
        update["surveys"] = settings.surveys.model_copy(update={"lsst": lsst})
    return settings.model_copy(update=update)


def kafka_graph(topic: str, stages: list[str], batch_alerts: int,
                params: dict[str, dict[str, Any]] | None = None, survey: str = "ztf"
                ) -> GraphSpec:
    params = params or {}
    return GraphSpec(
        survey=survey,  # type: ignore[arg-type]
        source=SourceSpec(kind="kafka", topics=[topic], idle_timeout_s=_IDLE_TIMEOUT_S),
        stages=[StageSpec(name=name, params=params.get(name, {})) for name in stages],
        batch=BatchOverrides(max_alerts=batch_alerts),
    )


def run_benchmark(settings: Settings, spec: WorkloadSpec, progress: Progress = print,
                  meter: Meter = _no_meter) -> dict[str, Any]:
    """Run the whole benchmark; return the results (``report`` writes them).
    ``meter`` shows the progress of each long phase (alerts produced, processed)."""
    started_at = datetime.now(UTC)
    ctx = BenchContext(settings, spec, progress, meter)
    ctx.settings = bench_settings(settings, ctx.run_id, spec)
    stages = stages_to_run(spec.survey)
    results: dict[str, Any] = {
        "benchmark": "boom-flow bench",
        "mode": spec.mode,
        "survey": spec.survey,
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
        stages, broken = usable_stages(ctx.settings, stages, setup.stage_params, spec.survey)
        for name, reason in broken.items():
            progress(f"stage {name} cannot start, running without it: {reason}")
        results["stages_broken"] = broken
        with bench_cluster(ctx.settings.dask) as (client, pids):
            results.update(_measure(ctx, client, pids, stages, setup))
    finally:
        delete_topics(ctx.settings.services.kafka.bootstrap, ctx.topics)
        setup.cleanup()
    results["preparation_s"] = ctx.timings
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def _measure(ctx: BenchContext, client: Client, pids: dict[str, int], stages: list[str],
             setup: extras.Setup) -> dict[str, Any]:
    """Each depth's night (history stored first, untimed), then latency and ceilings
    once, after the deepest night (so they never change what a measured night found)."""
    spec, settings = ctx.spec, ctx.settings
    nights: list[dict[str, Any]] = []
    stored = 0
    for depth in spec.depths:
        _store_history(ctx, client, stages, setup, history_nights(spec, stored, depth))
        nights.append(_throughput_run(ctx, client, pids, stages, setup, depth))
        stored = depth + 1
    first = nights[0]
    # Half the rate of the archive the latency night meets: the deepest one's.
    latency = _latency_run(ctx, client, stages, setup, nights[-1]["throughput"],
                           spec.night_of(stored))

    # Last, on warm workers: each step alone on a sample of the same night, with the
    # same plan (the same stages, models, catalogs and filters).
    started = time.monotonic()
    ctx.progress(f"ceilings: decode, inference and write alone on {spec.ceiling_alerts} alerts")
    sample = [RawPacket(a.data, "bench")
              for a in night_alerts(spec, limit=spec.ceiling_alerts)]
    graph = _graph(ctx, "ceilings", stages, setup)
    ceilings = measure_ceilings(client, make_plan(settings, graph), sample, spec.batch_alerts,
                                f"{settings.services.mongodb.database}_ceiling")
    del sample
    ctx.step("ceilings", started)
    throughput = first["throughput"]
    return {
        "parameters": {
            **describe(spec),
            "depths": list(spec.depths),
            "alert_source": ALERT_SOURCES[spec.survey],
            "stages": ["decode", "history", *stages, "write"],
            "stages_missing": [s for s in wanted_stages(spec.survey) if s not in stages],
            "stages_missing_why": "not installed (not in boom_flow.stages.STAGES) "
                                  "or failed to start (see stages_broken)",
            "dask_workers": len(first["workers"]),
            "threads_per_worker": settings.dask.threads_per_worker,
            "worker_memory_limit": settings.dask.memory_limit,
            "max_in_flight": settings.batch.max_in_flight,
            "batch_max_ms": settings.batch.max_ms,
            "processes_measured": sorted(pids) + [SERVER_PREFIX + name
                                                  for name in server_pids(settings)],
            **setup.parameters,
        },
        "throughput": throughput,
        "stages": first["stages"],
        "cpu": first["cpu"],
        "depths": depth_rows([(n["depth"], n["throughput"], n["cpu"]) for n in nights]),
        "nights": [{k: n[k] for k in ("depth", "night_jd", "throughput", "stages", "cpu")}
                   for n in nights],
        "latency": latency,
        "memory": first["memory"],
        "ceilings": ceilings,
        "fractions": fractions(throughput, first["stages"], ceilings),
        "comparison": comparison(throughput["alerts_per_s"], len(first["workers"])),
    }


def _graph(ctx: BenchContext, topic: str, stages: list[str], setup: extras.Setup
           ) -> GraphSpec:
    return kafka_graph(topic, stages, ctx.spec.batch_alerts, setup.stage_params,
                       ctx.spec.survey)


def _throughput_run(ctx: BenchContext, client: Client, pids: dict[str, int],
                    stages: list[str], setup: extras.Setup, depth: int) -> dict[str, Any]:
    """One night at archive depth ``depth``, from a backlog in Kafka, with the workers'
    and servers' memory and every process's CPU sampled while it runs."""
    spec, settings = ctx.spec, ctx.settings
    night_jd = spec.night_of(depth)
    started = time.monotonic()
    ctx.progress(f"producing the night after {depth} stored night(s): {spec.n_alerts} "
                 f"alerts to Kafka")
    topic = ctx.topic(f"night{depth}")
    advance = ctx.meter("produce", spec.n_alerts)
    produce(settings.services.kafka.producer_config(), topic, night_alerts(spec, night_jd),
            on_sent=lambda _sent: advance(1))
    ctx.step(f"produce_night_{depth}", started)
    ctx.progress(f"throughput: the pipeline ({', '.join(['decode', *stages, 'write'])}) "
                 f"on {spec.n_alerts} alerts from Kafka")
    workers = client.run(os.getpid)
    servers = server_pids(settings)
    recorder = OutcomeRecorder(expected_packets=spec.n_alerts,
                               advance=ctx.meter(f"throughput, depth {depth}", spec.n_alerts))
    measured = {**pids, **{SERVER_PREFIX + name: pid for name, pid in servers.items()}}
    with MemorySampler(workers) as memory, MemorySampler(servers) as server_memory, \
            CpuSampler(measured) as cpu:
        summary = run_pipeline(settings, _graph(ctx, topic, stages, setup),
                               stop=recorder.stop, on_outcome=recorder, client=client)
    ctx.drop_topic(topic)
    throughput = recorder.throughput(len(workers))
    steady = recorder.steady_window(len(workers))
    cpu_result = cpu_report(
        cpu.window(), recorder.alerts, os.cpu_count() or 1,
        steady=cpu.window(steady[0], steady[1]) if steady else None,
        steady_alerts=steady[2] if steady else 0,
        driver_excluded_s=cpu.own_seconds + memory.own_seconds + server_memory.own_seconds)
    return {
        "depth": depth,
        "night_jd": night_jd,
        "workers": workers,
        "throughput": {**throughput, "stored": summary.stored,
                       "duplicates": summary.duplicates, "rejected": summary.rejected,
                       "aux_rereads": summary.aux_reads},
        "stages": stage_table(recorder.stage_seconds(), recorder.alerts),
        "memory": {**memory.summary(), "servers": server_memory.summary()["workers"]},
        "cpu": cpu_result,
    }


def _store_history(ctx: BenchContext, client: Client, stages: list[str],
                   setup: extras.Setup, nights: list[float]) -> None:
    """Store ``nights`` (the same objects' earlier nights) untimed, each through the
    same pipeline and stages as the measured night and in order, one night after the
    other: the archive then holds exactly what those nights would have left."""
    if not nights:
        return
    started = time.monotonic()
    ctx.progress(f"history: {len(nights)} earlier night(s) of the same objects "
                 f"({len(nights) * ctx.spec.n_alerts} alerts; stages: decode, "
                 f"{', '.join([*stages, 'write'])}) stored before timing")
    advance = ctx.meter("history", len(nights) * ctx.spec.n_alerts)
    for night_jd in nights:
        topic = ctx.topic(f"history_{night_jd:.1f}")
        produce(ctx.settings.services.kafka.producer_config(), topic,
                night_alerts(ctx.spec, night_jd))
        recorder = OutcomeRecorder(expected_packets=ctx.spec.n_alerts, advance=advance)
        run_pipeline(ctx.settings, _graph(ctx, topic, stages, setup),
                     stop=recorder.stop, on_outcome=recorder, client=client)
        ctx.drop_topic(topic)
    ctx.step(f"history_{len(nights)}_nights", started)


def _latency_run(ctx: BenchContext, client: Client, stages: list[str], setup: extras.Setup,
                 throughput: dict[str, Any], night_jd: float) -> dict[str, Any]:
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
    alerts = list(night_alerts(spec, night_jd, warmup + measured))
    ctx.progress(f"latency: {measured} fresh alerts streamed at {rate:.1f}/s "
                 f"({spec.latency_rate_fraction:.0%} of the measured rate)")
    recorder = OutcomeRecorder(expected_packets=len(alerts),
                               advance=ctx.meter("latency", len(alerts)))
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
    run_pipeline(settings, _graph(ctx, topic, stages, setup), stop=recorder.stop,
                 on_outcome=recorder, client=client)
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
