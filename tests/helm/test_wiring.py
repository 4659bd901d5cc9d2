"""What the chart starts works together: the rendered Deployments' commands, args and
environment (ConfigMap and Secret included) run as local processes against the
embedded stack — a scheduler, the two workers the values ask for, the ZTF ingest and
the API. A simulated night produced to the topic the ingest Deployment follows ends
up in the archive and is answered by an authenticated API query."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from distributed import Client

from boom_flow.config import Settings
from boom_flow.pipeline.preload import WorkerSetup
from boom_flow.simulate import NightSpec, publish_night
from tests.conftest import free_port
from tests.helm.chart import by_kind, containers, name, render
from tests.helm.local import local_pod
from tests.metrics.scrape import scrape, total, value
from tests.processes import Process, running, start

ROOT = Path(__file__).resolve().parents[2]
ALERTS = 60
ADMIN_PASSWORD = "wiring-admin-password"
SCHEDULER = f"tcp://{name('scheduler')}:8786"


def _values(settings: Settings, database: str, topic: str) -> dict[str, Any]:
    """What an operator sets to point the release at these servers (no substitution)."""
    return {
        "mongodb": {"uri": settings.services.mongodb.connection_uri, "database": database},
        "kafka": {"bootstrapServers": settings.services.kafka.bootstrap,
                  "groupId": f"wiring-{uuid.uuid4().hex[:6]}",
                  # The embedded broker holds a group join for half the session timeout.
                  "sessionTimeoutMs": 6000},
        "valkey": {"url": settings.services.valkey.connection_url},
        "secrets": {"apiSecretKey": uuid.uuid4().hex + uuid.uuid4().hex,
                    "adminPassword": ADMIN_PASSWORD},
        "ingest": {"surveys": {"ztf": {"enabled": True, "graph": "graphs/ztf.yaml",
                                       "topics": [topic], "replicas": 1}}},
        "config": {"batch": {"max_alerts": 10, "max_ms": 500},
                   "api": {"password_hash_rounds": 4}},
    }


@pytest.fixture
def topic(settings: Settings) -> Any:
    topic = f"wiring-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.services.kafka.bootstrap})
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result(10)
    yield topic
    admin.delete_topics([topic], operation_timeout=10)


@pytest.mark.services
def test_the_rendered_deployments_run_together(settings: Settings, mongo_db: pymongo.database
                                               .Database, topic: str, tmp_path: Path) -> None:
    manifests = render(_values(settings, mongo_db.name, topic))
    deployments = by_kind(manifests, "Deployment")
    replicas = deployments[name("worker")]["spec"]["replicas"]
    assert replicas == 2
    ports = {key: free_port() for key in ("comm", "dashboard", "ingest", "api")}
    local_scheduler = f"tcp://127.0.0.1:{ports['comm']}"
    # What differs on one machine: the scheduler's address (a Service name in the
    # cluster), ports several pods share there, 0.0.0.0 (a pod's own network), and the
    # mount paths (folders here).
    config_text = {"config.yaml": {
        SCHEDULER: local_scheduler,
        "port: 9090": f"port: {ports['ingest']}",
        "host: 0.0.0.0": "host: 127.0.0.1",
        "/var/lib/boom-flow/": f"{tmp_path}/var/",
    }}
    scheduler = local_pod(manifests, name("scheduler"), tmp_path, args={
        "8786": str(ports["comm"]), ":8787": f":{ports['dashboard']}"})
    workers = [local_pod(manifests, name("worker"), tmp_path / f"w{i}", files=config_text,
                         args={SCHEDULER: local_scheduler, ":8788": f":{free_port()}"})
               for i in range(replicas)]
    ingest = local_pod(manifests, name("ingest-ztf"), tmp_path, files=config_text)
    api = local_pod(manifests, name("api"), tmp_path, files=config_text, args={
        "4000": str(ports["api"]), "0.0.0.0": "127.0.0.1"})
    assert ingest.command == ["boom-flow", "run", "graphs/ztf.yaml", "--topic", topic]
    assert "BOOM_FLOW_API__SECRET_KEY" in api.env and "BOOM_FLOW_CONFIG" in ingest.env

    processes: list[Process] = []
    with running(processes):
        def launch(pod: Any, label: str) -> Process:
            # The image's WORKDIR holds graphs/: the repository's root here.
            process = start(label, pod.command, pod.env, tmp_path, cwd=ROOT)
            processes.append(process)
            return process

        dashboard = f"http://127.0.0.1:{ports['dashboard']}"
        launch(scheduler, "scheduler").wait_http(dashboard + "/health", seconds=120)
        worker_urls = []
        for i, pod in enumerate(workers):
            worker_port = pod.command[pod.command.index("--dashboard-address") + 1]
            worker_urls.append(f"http://127.0.0.1{worker_port}")
            launch(pod, f"worker-{i}")
        for i, url in enumerate(worker_urls):
            processes[1 + i].wait_http(url + "/health", seconds=120)
        run = launch(ingest, "ingest")
        ingest_url = f"http://127.0.0.1:{ports['ingest']}"
        run.wait_http(ingest_url + "/health", seconds=120)
        server = launch(api, "api")
        api_url = f"http://127.0.0.1:{ports['api']}"
        server.wait_http(api_url + "/health/ready", seconds=120)

        published = publish_night(NightSpec(n_alerts=ALERTS, seed=21),
                                  settings.services.kafka.bootstrap, topic)
        assert published == ALERTS
        deadline = time.monotonic() + 150
        while mongo_db["ZTF_alerts"].count_documents({}) < ALERTS:
            assert time.monotonic() < deadline, run.output()[-3000:]
            assert run.alive(), run.output()[-3000:]
            time.sleep(0.5)

        token = httpx.post(api_url + "/auth", data={"username": "admin",
                                                    "password": ADMIN_PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        answer = httpx.post(api_url + "/queries/count", headers=headers, timeout=60,
                            json={"catalog_name": "ZTF_alerts", "filter": {}})
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == ALERTS
        assert httpx.post(api_url + "/queries/count",
                          json={"catalog_name": "ZTF_alerts"}).status_code == 401

        # The workers ran boom_flow's preload (the chart's --preload).
        with Client(local_scheduler, timeout=30) as client:
            plugins = client.run(lambda dask_worker: sorted(dask_worker.plugins))
        assert len(plugins) == replicas
        assert all(WorkerSetup.name in names for names in plugins.values()), plugins

        # Every process the chart scrapes serves its metrics.
        assert total(scrape(dashboard + "/metrics"), "dask_scheduler_workers") == replicas
        for url in worker_urls:
            assert any(n.startswith("dask_worker_") for n, _ in scrape(url + "/metrics"))
        # The archive has every alert once the last batch is written; its outcome and
        # its commit (which reports the lag) follow a moment later.
        deadline = time.monotonic() + 30
        while True:
            ingest_metrics = scrape(ingest_url + "/metrics")
            lags = {labels: v for (n, labels), v in ingest_metrics.items()
                    if n == "boom_flow_kafka_lag"}
            stored = value(ingest_metrics, "boom_flow_alerts_stored_total", survey="ztf")
            if stored == ALERTS and lags and set(lags.values()) == {0.0}:
                break  # everything read was stored, counted and committed
            assert time.monotonic() < deadline, (stored, lags)
            time.sleep(0.5)
        assert all(dict(labels)["topic"] == topic for labels in lags)
        assert value(ingest_metrics, "boom_flow_kafka_partitions_assigned", survey="ztf") == 2
        assert total(ingest_metrics, "boom_flow_alert_latency_seconds_count") == ALERTS
        assert total(scrape(api_url + "/metrics"), "boom_flow_api_requests_total") >= 3

        # SIGTERM (what Kubernetes sends) finishes the batches in flight and exits cleanly.
        run.stop(seconds=60)
        assert run.popen.returncode == 0, run.output()[-3000:]
    assert "stored:     60 new" in run.output()
    assert [c["name"] for c in containers(deployments[name("worker")])] == ["worker"]
