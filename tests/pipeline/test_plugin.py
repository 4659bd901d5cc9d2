"""The plan on the workers: set up by a WorkerPlugin on every worker before the first
batch (models loaded, clients open), torn down and closed when the run ends."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pymongo
import pytest
from distributed import Client

from boom_flow.config import Settings, load_settings
from boom_flow.core import AlertBatch, RawBatch, RawPacket
from boom_flow.pipeline.resources import Connections
from boom_flow.pipeline.worker import BatchPlan, Workbench, installed, process_batch
from boom_flow.stages import Resources, Stage, configure_stage
from boom_flow.stages.classify import ClassifyStage


@dataclass
class Probe(Stage):
    """Notes in a file when it is set up, called and torn down, and by which process."""

    name: ClassVar[str] = "probe"
    log: str = ""

    def _note(self, what: str) -> None:
        with open(self.log, "a") as out:
            out.write(f"{what} {os.getpid()}\n")

    def setup(self, resources: Resources) -> None:
        self._note("setup")

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        self._note("call")
        return batch

    def teardown(self) -> None:
        self._note("teardown")


@dataclass
class CannotStart(Stage):
    name: ClassVar[str] = "cannot_start"

    def setup(self, resources: Resources) -> None:
        raise FileNotFoundError("model sparkle.onnx is not there")


def _notes(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    return [(what, int(pid)) for what, pid in (line.split() for line in log.read_text()
                                                 .splitlines())]


def _loaded_models(dask_worker: Any, plugin: str) -> list[str]:
    stage = dask_worker.plugins[plugin].workbench.stage("classify")
    return [model.name for model in stage.classifier.models]


def test_every_worker_is_set_up_before_the_first_batch_and_torn_down_after(
        dask_client: Client, shared_data: Path, tmp_path: Path) -> None:
    settings = load_settings(environ={})
    log = tmp_path / "probe.log"
    specs = [s.model_dump(mode="json") for s in settings.models.ztf if s.name == "btsbot"]
    plan = BatchPlan(survey="ztf", stages=(
        configure_stage(settings, "ztf", "decode"), Probe(log=str(log)),
        ClassifyStage(specs=specs, models_dir=str(shared_data / "models" / "onnx"))),
        connections=Connections.from_settings(settings))
    workers = set(dask_client.run(os.getpid).values())
    with installed(dask_client, plan) as plugin:
        # Before any batch: every worker has its stages set up and its models loaded ...
        # ... and has run them once on a few simulated alerts (warm-up, nothing stored).
        before = _notes(log)
        for pid in workers:
            assert [what for what, p in before if p == pid] == ["setup", "call"]
        assert set(map(tuple, dask_client.run(_loaded_models, plugin=plugin).values())) == {
            ("btsbot",)}
        path = next((shared_data / "ztf" / "alerts" / "boom_20240716").glob("*.avro"))
        raw = RawBatch((RawPacket(path.read_bytes(), str(path)),))
        outcomes = [dask_client.submit(process_batch, raw, plugin, pure=False,
                                       workers=[address]).result()
                    for address in dask_client.scheduler_info()["workers"]]
        assert all(o.error is None and o.alerts == 1 for o in outcomes)
        # Once per worker, not per batch.
        assert [n for n in _notes(log) if n[0] == "setup"] == [n for n in before
                                                               if n[0] == "setup"]
        assert {pid for what, pid in _notes(log) if what == "call"} == workers
    notes = _notes(log)
    assert {pid for what, pid in notes if what == "teardown"} == workers
    assert dask_client.run(lambda dask_worker: plugin in dask_worker.plugins) == dict.fromkeys(
        dask_client.scheduler_info()["workers"], False)


def test_a_stage_that_cannot_start_stops_the_run_before_any_batch_and_leaves_nothing(
        dask_client: Client) -> None:
    settings = load_settings(environ={})
    plan = BatchPlan(survey="ztf", stages=(configure_stage(settings, "ztf", "decode"),
                                           CannotStart()),
                     connections=Connections.from_settings(settings))
    with pytest.raises(FileNotFoundError, match=r"sparkle\.onnx"), installed(dask_client, plan):
        pass
    registered = dask_client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert not [name for name in registered if name.startswith("boom-flow-")]


def test_closing_a_workbench_closes_the_clients_it_opened(settings: Settings) -> None:
    plan = BatchPlan(survey="ztf", stages=tuple(configure_stage(settings, "ztf", name)
                                                for name in ("decode", "history", "write")),
                     connections=Connections.from_settings(settings))
    workbench = Workbench.open(plan)
    database = workbench.resources.database
    assert workbench.resources.valkey is None and workbench.resources.producer is None
    database.command("ping")
    workbench.close()
    with pytest.raises(pymongo.errors.InvalidOperation):
        database.command("ping")
