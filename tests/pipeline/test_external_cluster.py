"""A Dask cluster started on its own (``dask scheduler`` and two ``dask worker``
processes, as the chart runs them) is a first-class place to run the pipeline: through
``dask.scheduler_address`` a replay stores what a LocalCluster stores, and two
``boom-flow run`` processes in one consumer group share a topic with nothing lost or
doubled."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import confluent_kafka
import httpx
import pymongo
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.config import Settings, load_settings
from boom_flow.pipeline.graph import load_graph
from boom_flow.pipeline.run import run_pipeline
from boom_flow.simulate import NightSpec, simulate_night, write_night
from tests.conftest import free_port
from tests.metrics.scrape import scrape, value
from tests.processes import Process, running, start

ROOT = Path(__file__).resolve().parents[2]
GRAPH = ROOT / "graphs" / "ztf.yaml"
VOLATILE = {"created_at", "updated_at", "received_at"}


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes with boom_flow's preload."""
    logs = tmp_path_factory.mktemp("cluster")
    port, dashboard = free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes: list[Process] = []
    # A worker's graceful close waits for its scheduler connection: 5 s is plenty.
    with running(processes, grace_s=5):
        processes.append(start("scheduler", ["dask", "scheduler", "--host", "127.0.0.1",
                                             "--port", str(port), "--dashboard-address",
                                             f"127.0.0.1:{dashboard}"], {}, logs))
        processes[0].wait_http(f"http://127.0.0.1:{dashboard}/health", seconds=120)
        for i in range(2):
            processes.append(start(f"worker-{i}", [
                "dask", "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                "--memory-limit", "2GiB", "--dashboard-address", "127.0.0.1:0",
                "--preload", "boom_flow.pipeline.preload"], {}, logs))
        for process in processes[1:]:
            process.wait_output("Registered to:", seconds=120)
        yield address


def _documents(db: pymongo.database.Database, collection: str) -> list[dict[str, Any]]:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return [strip(d) for d in db[collection].find({}).sort("_id", 1)]


@pytest.fixture
def second_db(settings: Settings) -> Iterator[pymongo.database.Database]:
    client: pymongo.MongoClient = pymongo.MongoClient(settings.services.mongodb.connection_uri)
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


@pytest.mark.services
def test_a_replay_on_the_external_cluster_stores_what_a_local_cluster_stores(
        scheduler_address: str, environment: dict[str, str], mongo_db: pymongo.database
        .Database, second_db: pymongo.database.Database, tmp_path: Path) -> None:
    night = tmp_path / "night"
    write_night(NightSpec(n_alerts=60, seed=5, n_objects=15, prior_nights=1), night)
    small = {"BOOM_FLOW_BATCH__MAX_ALERTS": "15", "BOOM_FLOW_DASK__N_WORKERS": "1"}
    graph = load_graph(GRAPH)
    graph = graph.model_copy(update={"source": graph.source.model_copy(
        update={"kind": "files", "path": night})})

    local = run_pipeline(load_settings(environ={**environment, **small}), graph)
    external_env = {**environment, **small,
                    "BOOM_FLOW_SERVICES__MONGODB__DATABASE": second_db.name}
    replay = start("replay", ["boom-flow", "replay", str(night), "--survey", "ztf",
                              "--graph", str(GRAPH)],
                   {**external_env, "BOOM_FLOW_DASK__SCHEDULER_ADDRESS": scheduler_address},
                   tmp_path)
    with running([replay]):
        assert replay.wait_exit(180) == 0, replay.output()
    assert local.stored == 60
    assert "stored:     60 new" in replay.output()
    for collection in ("ZTF_alerts", "ZTF_alerts_aux", "ZTF_alerts_cutouts"):
        expected = _documents(mongo_db, collection)
        assert expected, collection
        assert _documents(second_db, collection) == expected, collection


def _stored_new(output: str) -> int:
    match = re.search(r"stored:\s+(\d+) new", output)
    assert match, output
    return int(match.group(1))


def _alerts_in(output: str) -> int:
    match = re.search(r"alerts in:\s+(\d+)", output)
    assert match, output
    return int(match.group(1))


def _assigned(ports: list[int]) -> list[float]:
    """Partitions each process holds, from its own /metrics (0 while it starts)."""
    counts = []
    for port in ports:
        try:
            samples = scrape(f"http://127.0.0.1:{port}/metrics")
        except httpx.TransportError:
            samples = {}
        counts.append(value(samples, "boom_flow_kafka_partitions_assigned", survey="ztf"))
    return counts


@pytest.mark.services
def test_two_run_processes_in_one_group_share_a_topic_on_the_external_cluster(
        scheduler_address: str, environment: dict[str, str], settings: Settings,
        mongo_db: pymongo.database.Database, tmp_path: Path) -> None:
    bootstrap = settings.services.kafka.bootstrap
    topic, group = f"shared-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 4, 1)]).values():
        future.result(10)
    graph = tmp_path / "ztf.yaml"
    graph.write_text("survey: ztf\nsource: {kind: kafka}\nstages: [{name: features}]\n")
    env = {**environment, "BOOM_FLOW_DASK__SCHEDULER_ADDRESS": scheduler_address,
           "BOOM_FLOW_SERVICES__KAFKA__GROUP_ID": group, "BOOM_FLOW_BATCH__MAX_ALERTS": "10",
           "BOOM_FLOW_BATCH__MAX_MS": "500"}
    ports = [free_port(), free_port()]
    runs = [start(f"run-{i}", ["boom-flow", "run", str(graph), "--topic", topic],
                  {**env, "BOOM_FLOW_METRICS__PORT": str(port)}, tmp_path)
            for i, port in enumerate(ports)]
    try:
        with running(list(runs)):
            deadline = time.monotonic() + 150
            while _assigned(ports) != [2, 2]:
                assert all(r.alive() for r in runs), [r.output()[-2000:] for r in runs]
                assert time.monotonic() < deadline, "the two processes never shared the group"
                time.sleep(1)
            # Round the four partitions (without a key, a producer may fill one at a time).
            producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
            for i, alert in enumerate(simulate_night(NightSpec(n_alerts=80, seed=8))):
                producer.produce(topic, alert.packet, partition=i % 4)
            assert producer.flush(30) == 0
            deadline = time.monotonic() + 120
            while mongo_db["ZTF_alerts"].count_documents({}) < 80:
                assert all(r.alive() for r in runs), [r.output()[-2000:] for r in runs]
                assert time.monotonic() < deadline, "the night was not stored"
                time.sleep(0.5)
            for run in runs:  # SIGTERM: finish, commit, print the summary
                run.stop(seconds=60)
            codes = [run.popen.returncode for run in runs]
            outputs = [run.output() for run in runs]
    finally:
        admin.delete_topics([topic], operation_timeout=10)
    assert codes == [0, 0], outputs
    assert all(_alerts_in(o) > 0 for o in outputs), outputs  # both did part of the work
    assert sum(_stored_new(o) for o in outputs) == 80  # nothing stored twice...
    assert mongo_db["ZTF_alerts"].count_documents({}) == 80  # ...and nothing lost
