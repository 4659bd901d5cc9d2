"""Simulated nights written as ZTF distributes them, and sent to the real Kafka broker."""

from __future__ import annotations

import hashlib
import io
import tarfile
import uuid
from pathlib import Path

import confluent_kafka
import fastavro
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.config import Settings
from boom_flow.core.batch import RawPacket
from boom_flow.simulate import (
    NightSpec,
    SimulatedAlert,
    publish_night,
    simulate_night,
    write_night,
)
from boom_flow.simulate.output import _paced, write_tarball
from boom_flow.sources.files import discover, read_packets

SPEC = NightSpec(n_alerts=60, seed=21, prior_nights=1)


def test_a_folder_of_avro_files_named_by_candid(tmp_path: Path) -> None:
    count = write_night(SPEC, tmp_path / "night", "folder")
    files = sorted((tmp_path / "night").glob("*.avro"))
    assert count == len(files) == 60
    for path in files[:5]:
        record = next(fastavro.reader(path.open("rb")))
        assert path.stem == str(record["candid"])
    packets = [p for p in read_packets(discover(tmp_path / "night"))
               if isinstance(p, RawPacket)]
    assert len(packets) == 60


def test_a_nightly_tarball_is_deterministic_and_readable(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "night.tar.gz", tmp_path / "b" / "night.tar.gz"
    assert write_night(SPEC, first, "tarball") == 60
    write_night(SPEC, second, "tarball")
    assert hashlib.sha256(first.read_bytes()).digest() == \
        hashlib.sha256(second.read_bytes()).digest()
    with tarfile.open(first) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [f"{a.alert_id}.avro" for a in simulate_night(SPEC)]
        record = next(fastavro.reader(io.BytesIO(tar.extractfile(members[0]).read())))
        assert members[0].name == f"{record['candid']}.avro"
    packets = list(read_packets([first]))
    assert len(packets) == 60 and all(isinstance(p, RawPacket) for p in packets)
    assert not list(first.parent.glob("*.partial"))


def test_a_failed_tarball_leaves_nothing_behind(tmp_path: Path) -> None:
    good = list(simulate_night(NightSpec(n_alerts=5, seed=1)))
    broken = SimulatedAlert(packet=None, alert_id=1, object_id="x", jd=good[0].jd,  # type: ignore[arg-type]
                            kind="bogus")
    out = tmp_path / "night.tar.gz"
    with pytest.raises(TypeError):
        write_tarball([*good, broken, *good], out)
    assert not list(tmp_path.iterdir())


def test_an_unknown_form_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="folder"):
        write_night(SPEC, tmp_path, "zip")  # type: ignore[arg-type]


def test_pacing_holds_the_rate() -> None:
    now = [0.0]
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    alerts = list(simulate_night(NightSpec(n_alerts=11, seed=1)))
    emitted = []
    for alert in _paced(alerts, 5.0, lambda: now[0], sleep):
        emitted.append((now[0], alert.alert_id))
    assert [a for _, a in emitted] == [a.alert_id for a in alerts]
    assert emitted[-1][0] == pytest.approx(2.0)  # 10 intervals at 5/s
    with pytest.raises(ValueError, match="rate"):
        list(_paced(alerts, 0.0, lambda: 0.0, sleep))


@pytest.mark.services
def test_publish_to_the_real_broker(stack_settings: Settings) -> None:
    kafka = stack_settings.services.kafka
    topic = f"sim-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(10)
    try:
        sent = publish_night(SPEC, kafka.bootstrap, topic, rate=500.0)
        assert sent == 60
        consumer = confluent_kafka.Consumer(kafka.consumer_config(f"g-{topic}"))
        consumer.subscribe([topic])
        received = []
        try:
            for _ in range(60):
                message = consumer.poll(5)
                if message is None:
                    break
                assert message.error() is None
                received.append(message.value())
                if len(received) == 60:
                    break
        finally:
            consumer.close()
        assert received == [alert.packet for alert in simulate_night(SPEC)]
    finally:
        admin.delete_topics([topic], operation_timeout=10)
