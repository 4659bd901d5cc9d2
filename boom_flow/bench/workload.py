"""The benchmark's workload: which alerts, how many, and getting them into Kafka.

The reference workload is the BOOM paper's night (benchmark.md): 29,140 ZTF alerts,
a ~1.9-million-row galaxy catalog, ACAI x5 + BTSbot, 25 copies of ``cats150``, and
each object's earlier history already stored. Alerts come from the project's night
simulator (``boom_flow.simulate``); where it is not installed, the real packets under
``../shared/data/ztf/alerts`` stand in, repeated to the asked count (their repeats are
duplicates the archive ignores, so such a run says so in its report).
"""

from __future__ import annotations

import io
import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import confluent_kafka
import fastavro
from confluent_kafka.admin import AdminClient, NewTopic

#: The night the benchmark simulates (2024-07-16 UTC, as the BOOM paper's night).
NIGHT_JD = 2460507.5
SHARED_DATA = Path(os.environ.get("BOOM_FLOW_SHARED_DATA",
                                  Path(__file__).resolve().parents[3] / "shared" / "data"))


@dataclass(frozen=True)
class WorkloadSpec:
    """Everything that defines a benchmark run's input (reported as its parameters)."""

    mode: str
    n_alerts: int
    seed: int = 0
    night_jd: float = NIGHT_JD
    #: Earlier nights simulated and stored before timing, so objects have a history.
    prior_nights: int = 2
    #: Alerts per prior night (their own size; a fraction of the measured night's).
    prior_alerts: int = 0
    catalog_rows: int = 0
    catalog_radius_arcsec: float = 300.0
    n_filters: int = 25
    #: Alerts streamed at a steady rate after the throughput run, for latency.
    latency_alerts: int = 0
    #: That rate as a fraction of the measured steady throughput.
    latency_rate_fraction: float = 0.5
    #: Alerts used to measure the ceilings (decode, inference, write alone).
    ceiling_alerts: int = 0
    batch_alerts: int = 500


def full_workload(seed: int = 0, n_alerts: int | None = None) -> WorkloadSpec:
    n = n_alerts or 29_140
    return WorkloadSpec(mode="full", n_alerts=n, seed=seed, prior_nights=2,
                        prior_alerts=max(n // 4, 1), catalog_rows=1_870_000, n_filters=25,
                        latency_alerts=min(n, 3_000), ceiling_alerts=min(n, 4_000))


def quick_workload(seed: int = 0, n_alerts: int | None = None) -> WorkloadSpec:
    n = n_alerts or 2_000
    return WorkloadSpec(mode="quick", n_alerts=n, seed=seed, prior_nights=1,
                        prior_alerts=max(n // 4, 1), catalog_rows=50_000, n_filters=25,
                        latency_alerts=min(n, 500), ceiling_alerts=min(n, 1_000),
                        batch_alerts=min(500, max(n // 4, 10)))


def describe(spec: WorkloadSpec) -> dict[str, Any]:
    return asdict(spec)


# -- where alerts come from ------------------------------------------------------------

@dataclass(frozen=True)
class Alert:
    """One packet to produce, with the id the results are joined on."""

    alert_id: int
    data: bytes


def simulator_available() -> bool:
    try:
        from boom_flow.simulate import NightSpec, simulate_night  # noqa: F401
    except ImportError:
        return False
    return True


def alert_source() -> str:
    """``simulator`` or ``shared-data stand-in`` (what the report says the alerts were)."""
    return "simulator" if simulator_available() else "shared-data stand-in"


def night_alerts(spec: WorkloadSpec, n_alerts: int, night_jd: float, seed: int
                 ) -> Iterator[Alert]:
    """The packets of one night, deterministic under ``seed``."""
    if simulator_available():
        from boom_flow.simulate import NightSpec, simulate_night

        night = NightSpec(survey="ztf", n_alerts=n_alerts, seed=seed, night_jd=night_jd)
        for alert in simulate_night(night):
            yield Alert(int(alert.alert_id), alert.packet)
        return
    yield from itertools.islice(itertools.cycle(stand_in_alerts()), n_alerts)


def stand_in_alerts() -> list[Alert]:
    """The real ZTF packets of ../shared/data, for when the simulator is absent."""
    paths = sorted((SHARED_DATA / "ztf" / "alerts").rglob("*.avro"))
    if not paths:
        raise FileNotFoundError(
            f"no night simulator (boom_flow.simulate) and no real packets under {SHARED_DATA}")
    alerts = []
    for path in paths:
        data = path.read_bytes()
        records = list(fastavro.reader(io.BytesIO(data)))
        if records and "candid" in records[0]:
            alerts.append(Alert(int(records[0]["candid"]), data))
    return alerts


# -- Kafka ----------------------------------------------------------------------------

def create_topic(bootstrap: str, topic: str, partitions: int = 2) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        try:
            future.result(30)
        except Exception:  # cleanup: a topic already gone is fine
            continue


def produce(producer_config: dict[str, Any], topic: str, alerts: Iterator[Alert],
            rate: float | None = None, on_sent: Callable[[int], None] | None = None
            ) -> dict[int, int]:
    """Send ``alerts`` to ``topic`` (at ``rate`` per second, or as fast as possible);
    return each alert's Kafka timestamp (ms), set here so latency starts at the broker."""
    producer = confluent_kafka.Producer({"linger.ms": 5, "compression.type": "none",
                                         "message.max.bytes": 16_000_000, **producer_config})
    timestamps: dict[int, int] = {}
    started = time.monotonic()
    for index, alert in enumerate(alerts):
        if rate:
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        stamp = int(time.time() * 1000)
        while True:
            try:
                producer.produce(topic, alert.data, key=str(alert.alert_id).encode(),
                                 timestamp=stamp)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        timestamps[alert.alert_id] = stamp
        if on_sent is not None:
            on_sent(index + 1)
    if producer.flush(120) != 0:
        raise RuntimeError(f"could not deliver every alert to {topic}")
    return timestamps


def prior_nights(spec: WorkloadSpec) -> list[WorkloadSpec]:
    """The earlier nights whose alerts are stored before timing (their own seeds)."""
    return [replace(spec, night_jd=spec.night_jd - k, n_alerts=spec.prior_alerts)
            for k in range(spec.prior_nights, 0, -1)]
