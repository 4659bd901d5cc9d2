"""The benchmark's workload: which alerts, how many, and getting them into Kafka.

The reference workload is the BOOM paper's night (benchmark.md): 29,140 ZTF alerts,
a ~1.9-million-row galaxy catalog, ACAI x5 + BTSbot, 25 copies of ``cats150``, and
each object's earlier history already stored. Alerts come from the project's night
simulator (``boom_flow.simulate``), deterministic under the seed.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.config import shared_data_dir

#: The night the benchmark simulates (2024-07-16 UTC, as the BOOM paper's night).
NIGHT_JD = 2460507.5
SHARED_DATA = shared_data_dir()


@dataclass(frozen=True)
class WorkloadSpec:
    """Everything that defines a benchmark run's input (reported as its parameters)."""

    mode: str
    n_alerts: int
    seed: int = 0
    #: ``ztf`` or ``lsst`` (Rubin wire packets; ``lsst_schema_dir`` holds the schemas).
    survey: str = "ztf"
    night_jd: float = NIGHT_JD
    #: Earlier nights of the same objects (same size and seed), stored before timing
    #: so that objects have a history in the archive.
    prior_nights: int = 1
    #: Deeper archives to measure again in the same run, after the first measured
    #: night (``--prior-nights 1,10``): the nights in between are stored untimed.
    later_depths: tuple[int, ...] = ()
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
    lsst_schema_dir: str | None = None

    @property
    def depths(self) -> tuple[int, ...]:
        """Every archive depth (earlier nights stored) at which a night is measured."""
        return tuple(sorted({self.prior_nights, *self.later_depths}))

    def night_of(self, index: int) -> float:
        """JD of night ``index`` of the run's sky: night ``prior_nights`` is the first
        measured one (``night_jd``); the nights before it are its history."""
        return self.night_jd + index - self.prior_nights


def full_workload(seed: int = 0, n_alerts: int | None = None) -> WorkloadSpec:
    n = n_alerts or 29_140
    return WorkloadSpec(mode="full", n_alerts=n, seed=seed, prior_nights=1,
                        catalog_rows=1_870_000, n_filters=25,
                        latency_alerts=min(n, 1_500), ceiling_alerts=min(n, 2_000))


def quick_workload(seed: int = 0, n_alerts: int | None = None) -> WorkloadSpec:
    """For development: under two minutes on a loaded 2-core machine. Smaller batches
    than the full run so that even a small night makes enough batches for a steady
    rate."""
    n = n_alerts or 1_000
    return WorkloadSpec(mode="quick", n_alerts=n, seed=seed, prior_nights=1,
                        catalog_rows=50_000, n_filters=25,
                        latency_alerts=min(n, 150), ceiling_alerts=min(n, 300),
                        batch_alerts=min(200, max(n // 4, 10)))


def describe(spec: WorkloadSpec) -> dict[str, Any]:
    return asdict(spec)


# -- where alerts come from ------------------------------------------------------------

@dataclass(frozen=True)
class Alert:
    """One packet to produce, with the id the results are joined on."""

    alert_id: int
    data: bytes


def night_alerts(spec: WorkloadSpec, night_jd: float | None = None,
                 limit: int | None = None) -> Iterator[Alert]:
    """The packets of the night of ``spec`` (or of the same sky on ``night_jd``: the
    simulator draws the same objects for the same seed and size, so an earlier night
    gives them a history and a later one revisits them), the first ``limit`` of them."""
    from boom_flow.simulate import NightSpec, simulate_night

    night = NightSpec(survey=spec.survey, n_alerts=spec.n_alerts, seed=spec.seed,
                      night_jd=spec.night_jd if night_jd is None else night_jd,
                      lsst_schema_dir=spec.lsst_schema_dir)
    for alert in itertools.islice(simulate_night(night), limit):
        yield Alert(int(alert.alert_id), alert.packet)


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


def history_nights(spec: WorkloadSpec, stored: int, depth: int) -> list[float]:
    """The nights to store, untimed, when the archive holds ``stored`` nights and the
    next measured night must find ``depth`` of them, oldest first."""
    return [spec.night_of(index) for index in range(stored, depth)]


def lsst_schema_dir(configured: str | None) -> str | None:
    """The Rubin schemas the simulator writes with: the configured folder, else the
    shared data's (``../shared/data/lsst/schema``), else None."""
    if configured:
        return configured
    shared = SHARED_DATA / "lsst" / "schema"
    return str(shared) if shared.is_dir() else None
