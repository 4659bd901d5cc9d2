"""Kafka end to end with the real broker and ``boom-flow run`` as a real process:
exactly once in the archive, crash and restart, two ingest processes in one group."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import confluent_kafka
import pymongo
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.config import Settings
from tests.conftest import child_environ
from tests.pipeline.conftest import fastavro_records, ztf_packet_bytes


@pytest.fixture
def ztf_packets(shared_data: Path) -> list[bytes]:
    return [data for _, data in ztf_packet_bytes(shared_data)]


@pytest.fixture
def topic(settings: Settings) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:8]}_ztf_20240716_programid1"
    admin = AdminClient({"bootstrap.servers": settings.services.kafka.bootstrap})
    for future in admin.create_topics([NewTopic(name, 3, 1)]).values():
        future.result(10)
    yield name
    admin.delete_topics([name], operation_timeout=10)


@pytest.fixture
def graph(tmp_path: Path) -> Path:
    path = tmp_path / "ztf.yaml"
    path.write_text("survey: ztf\nsource:\n  kind: kafka\nstages: []\n")
    return path


def _produce(settings: Settings, topic: str, packets: list[bytes]) -> None:
    producer = confluent_kafka.Producer(settings.services.kafka.producer_config())
    for i, data in enumerate(packets):
        producer.produce(topic, data, partition=i % 3)
    assert producer.flush(30) == 0


def _start(environment: dict[str, str], graph: Path, topic: str, idle_s: float,
           **overrides: str) -> subprocess.Popen[str]:
    env = {**child_environ(), **environment, "BOOM_FLOW_DASK__N_WORKERS": "1", **overrides}
    return subprocess.Popen(
        [sys.executable, "-m", "boom_flow", "run", str(graph), "--topic", topic,
         "--until-idle", str(idle_s)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: killing it kills its workers
    )


def _finish(process: subprocess.Popen[str], timeout_s: float = 120) -> str:
    output, _ = process.communicate(timeout=timeout_s)
    assert process.returncode == 0, output
    return output


def _alerts_in(output: str) -> int:
    match = re.search(r"alerts in:\s+(\d+)", output)
    assert match, output
    return int(match.group(1))


def _unique_candids(packets: list[bytes]) -> set[int]:
    return {r["candid"] for data in packets for r in fastavro_records(data)}


def _assert_stored_once(db: pymongo.database.Database, packets: list[bytes]) -> None:
    assert {d["_id"] for d in db.ZTF_alerts.find({}, {"_id": 1})} == _unique_candids(packets)
    for aux in db.ZTF_alerts_aux.find({}, {"prv_candidates.jd": 1, "prv_candidates.candid": 1}):
        # Two detections of one exposure (same jd, two candids) are two points.
        points = [(p["jd"], p.get("candid")) for p in aux.get("prv_candidates", [])]
        assert len(points) == len(set(points)), f"history of {aux['_id']} has duplicates"
        assert [jd for jd, _ in points] == sorted(jd for jd, _ in points)


def test_packets_on_a_nightly_topic_are_stored_exactly_once(
    environment: dict[str, str], settings: Settings, mongo_db: pymongo.database.Database,
    ztf_packets: list[bytes], topic: str, graph: Path,
) -> None:
    _produce(settings, topic, ztf_packets)
    output = _finish(_start(environment, graph, topic, idle_s=3))
    assert _alerts_in(output) == len(ztf_packets)
    _assert_stored_once(mongo_db, ztf_packets)
    # The rate is over the work, not over the three idle seconds before stopping.
    match = re.search(r"rate:\s+([\d.]+) alerts/s over ([\d.]+) s busy \(([\d.]+) s in all",
                      output)
    assert match, output
    rate, busy, total = (float(value) for value in match.groups())
    assert total - busy >= 3.0
    assert rate == pytest.approx(len(ztf_packets) / busy, rel=0.05, abs=0.1)


def test_a_pipeline_killed_mid_stream_and_restarted_stores_everything_once(
    environment: dict[str, str], settings: Settings, mongo_db: pymongo.database.Database,
    ztf_packets: list[bytes], topic: str, graph: Path,
) -> None:
    _produce(settings, topic, ztf_packets)
    slow = {"BOOM_FLOW_BATCH__MAX_ALERTS": "4", "BOOM_FLOW_BATCH__MAX_IN_FLIGHT": "1"}
    first = _start(environment, graph, topic, idle_s=30, **slow)
    try:
        deadline = time.monotonic() + 90
        while mongo_db.ZTF_alerts.estimated_document_count() < 12:
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first run stored nothing"
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    stored_before_crash = mongo_db.ZTF_alerts.count_documents({})
    assert 0 < stored_before_crash < len(_unique_candids(ztf_packets)), "not killed mid-stream"

    _finish(_start(environment, graph, topic, idle_s=3))
    _assert_stored_once(mongo_db, ztf_packets)


def test_two_ingest_processes_in_one_group_share_the_work(
    environment: dict[str, str], settings: Settings, mongo_db: pymongo.database.Database,
    ztf_packets: list[bytes], topic: str, graph: Path,
) -> None:
    overrides = {"BOOM_FLOW_BATCH__MAX_ALERTS": "10"}
    processes = [_start(environment, graph, topic, idle_s=8, **overrides) for _ in range(2)]
    try:
        time.sleep(10)  # both join the group (Tansu holds a join for session.timeout / 2)
        _produce(settings, topic, ztf_packets)
        counts = [_alerts_in(_finish(process)) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate(timeout=30)
    assert all(count > 0 for count in counts), f"one process got no work: {counts}"
    assert sum(counts) >= len(ztf_packets)
    _assert_stored_once(mongo_db, ztf_packets)
