"""Run a pipeline: open the source, start the dataflow on Dask, stop cleanly.

This is the only place that knows about every edge at once (configuration, source,
cluster, database); the CLI calls it, the stages never see it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
from distributed import Client

from boom_flow.config import Settings
from boom_flow.core import RawBatch
from boom_flow.pipeline.cluster import dask_client
from boom_flow.pipeline.events import LatestLag, Monitors, SchedulerEvents, chain, scheduler_log
from boom_flow.pipeline.flow import Pipeline
from boom_flow.pipeline.graph import GraphSpec, SourceSpec
from boom_flow.pipeline.resources import Connections
from boom_flow.pipeline.summary import RunSummary
from boom_flow.pipeline.worker import BatchOutcome, BatchPlan
from boom_flow.sources.files import file_batches
from boom_flow.sources.kafka import KafkaPacketSource, SourceMonitor, rolling_topics
from boom_flow.stages import configure_stage
from boom_flow.storage import ensure_indexes

#: Whether the cluster would start a batch at once (``Pipeline.has_idle_worker``).
Ready = Callable[[], bool]
#: Whether batches are in flight (``Pipeline.in_flight``).
Busy = Callable[[], bool]


@dataclass
class OpenSource:
    #: The batches, given what tells the source the cluster is ready for one and
    #: what tells it batches are in flight (then it is not idle).
    batches: Callable[[Ready, Busy], Iterator[RawBatch]]
    commit: Callable[[Any], None] | None
    close: Callable[[], None]


def make_plan(settings: Settings, graph: GraphSpec) -> BatchPlan:
    """The graph's stages configured (and validated) here, on the driver."""
    return BatchPlan(
        survey=graph.survey,
        stages=tuple(configure_stage(settings, graph.survey, stage.name, stage.params)
                     for stage in graph.stages),
        connections=Connections.from_settings(settings),
    )


def open_source(
    settings: Settings, graph: GraphSpec, max_alerts: int, max_ms: int, stop: threading.Event,
    monitor: SourceMonitor | None = None,
) -> OpenSource:
    spec: SourceSpec = graph.source
    if spec.kind == "files":
        if spec.path is None:
            raise ValueError("a files source needs a path")
        path = spec.path
        # Files are all waiting: every batch is full, readiness changes nothing.
        limit = settings.batch.max_packet_bytes
        return OpenSource(lambda _ready, _busy: file_batches(path, max_alerts, spec.rate, limit),
                          None, lambda: None)
    survey = getattr(settings.surveys, graph.survey)
    programids = getattr(survey, "programids", [1])
    topics = spec.topics or rolling_topics(survey.topic_pattern, programids)
    source = KafkaPacketSource(settings.services.kafka.consumer_config(), topics,
                               max_alerts, max_ms, monitor=monitor,
                               max_packet_bytes=settings.batch.max_packet_bytes)
    return OpenSource(lambda ready, busy: source.batches(stop, spec.idle_timeout_s, ready, busy),
                      source.commit, source.close)


def run_pipeline(
    settings: Settings,
    graph: GraphSpec,
    stop: threading.Event | None = None,
    on_outcome: Callable[[BatchOutcome], None] | None = None,
    client: Client | None = None,
    monitor: SourceMonitor | None = None,
) -> RunSummary:
    """Run ``graph`` until its source is exhausted (files, idle Kafka) or ``stop`` is set.

    ``on_outcome`` sees every acknowledged batch; ``monitor`` hears from the source
    (polls, partitions assigned, lag after each commit): ``boom_flow.metrics`` feeds on
    both. Each outcome also goes, as an event with the latest lag, to the Dask scheduler
    (``pipeline.events``), where the boom_flow dashboard page shows it.
    """
    stop = stop or threading.Event()
    batch = settings.batch
    max_alerts = graph.batch.max_alerts or batch.max_alerts
    max_ms = graph.batch.max_ms or batch.max_ms
    max_in_flight = graph.batch.max_in_flight or batch.max_in_flight
    plan = make_plan(settings, graph)
    _prepare_database(settings, graph.survey.upper())
    with ExitStack() as resources:
        if client is None:
            client = resources.enter_context(dask_client(settings.dask))
        lag = LatestLag()
        source = open_source(settings, graph, max_alerts, max_ms, stop, Monitors(monitor, lag))
        resources.callback(source.close)
        events = SchedulerEvents(scheduler_log(client), graph.survey, lag.latest)
        pipeline = resources.enter_context(
            Pipeline(client, plan, max_in_flight, source.commit, chain(on_outcome, events),
                     route_by_object=batch.route_by_object))
        try:
            for raw in source.batches(pipeline.has_idle_worker, lambda: pipeline.in_flight > 0):
                if monitor is not None:
                    monitor.polled()
                if stop.is_set():  # collected after the request: left for the next run
                    break
                if raw.packets or raw.rejected:
                    pipeline.summary.received()
                if not pipeline.push(raw, stop):
                    break
        finally:
            pipeline.drain()
        pipeline.summary.finished = time.monotonic()
        return pipeline.summary


def _prepare_database(settings: Settings, survey: str) -> None:
    mongo = settings.services.mongodb
    with pymongo.MongoClient(mongo.connection_uri, **mongo.client_options()) as client:
        ensure_indexes(client[mongo.database], survey)


def files_graph(survey: str, path: Path, rate: float | None = None,
                graph: GraphSpec | None = None) -> GraphSpec:
    """The graph ``boom-flow replay`` runs: ``graph``'s stages and batch settings over
    files, or without a graph decode and write only (a plain replay into the archive)."""
    source = SourceSpec(kind="files", path=path, rate=rate)
    if graph is None:
        return GraphSpec(survey=survey, source=source)
    return graph.model_copy(update={"source": source})
