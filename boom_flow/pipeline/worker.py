"""What runs on a Dask worker: the graph's stages, set up once, then a loop per batch.

The driver makes a ``BatchPlan`` (the configured stages and where the services are)
and installs it on every worker as a ``PipelinePlugin``: the plugin's ``setup`` opens
the clients the stages need, sets the stages up (models loaded, catalogs opened) and
warms them up on a few simulated alerts before the first batch arrives; its
``teardown`` closes them. A batch task then only
carries its packets and the plugin's name.

Each stage's time is recorded with ``distributed.metrics.context_meter`` under the
stage's name, so it shows in Dask's Fine Performance Metrics; the outcome sent back to
the driver gets the same numbers from the meter's callback.
"""

from __future__ import annotations

import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from distributed import Client, WorkerPlugin, get_worker
from distributed.metrics import context_meter

from boom_flow.core import AlertBatch, RawBatch, RawPacket
from boom_flow.core.text import clip
from boom_flow.filters.results import filter_names, passes_by_filter
from boom_flow.metrics.names import reason_kind
from boom_flow.pipeline import resources as worker_resources
from boom_flow.pipeline.resources import Connections
from boom_flow.simulate import NightSpec, simulate_night
from boom_flow.stages import Resources, Stage, set_up
from boom_flow.stages.decode import DecodeStage
from boom_flow.surveys.base import KeyReader


@dataclass(frozen=True)
class BatchPlan:
    """Everything the workers must know to process a batch (made once, on the driver)."""

    survey: str
    #: The configured stages, in the order they run (``decode`` first).
    stages: tuple[Stage, ...]
    connections: Connections

    @property
    def needs(self) -> frozenset[str]:
        return frozenset().union(*(stage.needs for stage in self.stages))

    @property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def object_key(self) -> KeyReader | None:
        """What reads a packet's object id on the driver, for routing: the decode
        stage's survey's (None when the plan does not start with a decode)."""
        first = self.stages[0] if self.stages else None
        return first.object_key() if isinstance(first, DecodeStage) else None


@dataclass
class BatchOutcome:
    """What happened to one batch; the driver adds these up into the run summary."""

    packets: int = 0
    alerts: int = 0
    stored: int = 0
    duplicates: int = 0
    #: Alerts repeated within the batch (stored once).
    repeated: int = 0
    rejected: int = 0
    #: Seconds per stage, by stage name.
    seconds: dict[str, float] = field(default_factory=dict)
    #: What the stages reported (``AlertBatch.counts``: stored, duplicates, published...).
    counts: dict[str, int] = field(default_factory=dict)
    #: Kafka timestamps (ms) of the alerts, for latency.
    timestamps_ms: list[int] = field(default_factory=list)
    #: Rejections by reason kind (``boom_flow.metrics.names.reason_kind``): the metrics'
    #: labels and the run summary's list of reasons.
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    #: Alerts that passed each filter, by filter id, and the filters' names.
    filter_passes: dict[str, int] = field(default_factory=dict)
    filter_names: dict[str, str] = field(default_factory=dict)
    #: Wall-clock ms when the driver handed the batch to the pipeline (set by the
    #: driver; the arrival time of packets that carry no Kafka timestamp).
    submitted_ms: float | None = None
    #: The worker that processed it (its address).
    worker: str | None = None
    error: str | None = None


class Workbench:
    """A plan's stages, set up on ``resources``, and the loop that runs them."""

    def __init__(self, stages: Sequence[Stage], resources: Resources) -> None:
        self.resources = resources
        # Set-up copies: the plan's stages stay plain configuration (an in-process run
        # shares the plan object with the driver).
        self.stages = [set_up(stage, resources) for stage in stages]

    @classmethod
    def open(cls, plan: BatchPlan) -> Workbench:
        """The plan's stages on freshly opened clients (closed by ``close``)."""
        resources = plan.connections.open(plan.needs)
        try:
            return cls(plan.stages, resources)
        except BaseException:
            worker_resources.close(resources)
            raise

    def warm_up(self, raw: RawBatch) -> None:
        """Run the stages that need no service on ``raw`` and drop the result: the
        first real batch then finds every lazy import, code path and model session
        already warm, and is not slower than the rest. Nothing is stored."""
        value: Any = raw
        for stage in self.stages:
            if not stage.needs:
                value = stage(value)

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    def process(self, raw: RawBatch) -> BatchOutcome:
        """Run every stage on one batch. Never raises: a failure is reported in the
        outcome, so that the driver stops without committing instead of hanging."""
        outcome = BatchOutcome(packets=len(raw.packets))
        names = {stage.name for stage in self.stages}
        seconds: defaultdict[str, float] = defaultdict(float)

        def record(label: Any, value: float, unit: str) -> None:
            if unit == "seconds" and label in names:
                seconds[label] += value

        value: Any = raw
        try:
            with context_meter.add_callback(record):
                for stage in self.stages:
                    with context_meter.meter(stage.name):
                        value = stage(value)
        except Exception:
            outcome.error = clip(traceback.format_exc())
        outcome.seconds = dict(seconds)
        if outcome.error is not None:
            return outcome
        batch: AlertBatch = value
        outcome.alerts = len(batch)
        outcome.counts = dict(batch.counts)
        outcome.stored = batch.counts.get("stored", 0)
        outcome.duplicates = batch.counts.get("duplicates", 0)
        outcome.repeated = batch.counts.get("repeated", 0)
        outcome.rejected = len(batch.rejected)
        outcome.timestamps_ms = [p.timestamp_ms for p in raw.packets if p.timestamp_ms is not None]
        outcome.rejected_reasons = dict(Counter(reason_kind(r.reason) for r in batch.rejected))
        outcome.filter_passes = passes_by_filter(batch)
        outcome.filter_names = filter_names(batch)
        return outcome

    def close(self) -> None:
        try:
            for stage in self.stages:
                stage.teardown()
        finally:
            worker_resources.close(self.resources)


class PipelinePlugin(WorkerPlugin):
    """A plan installed on a worker: its ``Workbench``, for the plan's batch tasks."""

    def __init__(self, plan: BatchPlan) -> None:
        self.plan = plan
        self.name = f"boom-flow-{uuid.uuid4().hex[:12]}"
        self.workbench: Workbench | None = None

    def setup(self, worker: Any) -> None:
        self.workbench = Workbench.open(self.plan)
        sample = warm_up_batch(self.plan.survey)
        if sample is not None:
            self.workbench.warm_up(sample)

    def teardown(self, worker: Any) -> None:
        if self.workbench is not None:
            self.workbench.close()
            self.workbench = None


def warm_up_batch(survey: str, alerts: int = 8) -> RawBatch | None:
    """A few simulated packets of ``survey`` with a history, to warm a workbench up
    (ZTF only: simulated LSST packets need Rubin's schema files)."""
    if survey != "ztf":
        return None
    spec = NightSpec(survey="ztf", n_alerts=alerts, n_objects=max(1, alerts // 2),
                     prior_nights=1, seed=7)
    return RawBatch(tuple(RawPacket(alert.packet, "warm-up") for alert in simulate_night(spec)))


@contextmanager
def installed(client: Client, plan: BatchPlan) -> Iterator[str]:
    """``plan`` set up on every worker of ``client`` (and on any that joins later)
    while the context lasts; yields the plugin's name, for ``current_workbench``. A
    stage that cannot start raises here, before any batch."""
    plugin = PipelinePlugin(plan)
    try:
        client.register_plugin(plugin)
        yield plugin.name
    finally:
        # Also after a failed setup: the scheduler would set it up on new workers.
        client.unregister_worker_plugin(plugin.name)


def current_workbench(plugin: str) -> Workbench:
    """In a task: the workbench of the plan installed as ``plugin`` on this worker."""
    workbench = get_worker().plugins[plugin].workbench  # type: ignore[attr-defined]
    if workbench is None:
        raise RuntimeError(f"pipeline {plugin} was torn down on this worker")
    return workbench


def process_batch(raw: RawBatch, plugin: str) -> BatchOutcome:
    """The batch task: ``raw`` through the stages of the plan installed as ``plugin``."""
    try:
        workbench = current_workbench(plugin)
    except (KeyError, ValueError, RuntimeError) as error:
        return BatchOutcome(packets=len(raw.packets),
                            error=f"the pipeline is not set up on this worker: {error!r}")
    outcome = workbench.process(raw)
    outcome.worker = get_worker().address
    return outcome
