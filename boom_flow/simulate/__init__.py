"""Simulated nights: ZTF and LSST alert packets that real code cannot tell from real
ones, and NED-like galaxy catalogs, deterministic under a seed.

``simulate_night(spec)`` yields the packets in arrival order; ``write_night`` writes
them as ZTF/Rubin distribute them (a folder of ``.avro`` files or a nightly
``.tar.gz``); ``publish_night`` sends them to Kafka at a chosen rate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from boom_flow.simulate.galaxies import simulate_galaxy_catalog
from boom_flow.simulate.lsst import MissingSchema, lsst_alerts
from boom_flow.simulate.output import DeliveryError, publish, write_files
from boom_flow.simulate.spec import KINDS, NightSpec, SimulatedAlert
from boom_flow.simulate.ztf import ztf_alerts


def simulate_night(spec: NightSpec) -> Iterator[SimulatedAlert]:
    """The night's alerts in arrival (jd) order."""
    if spec.survey == "lsst":
        return lsst_alerts(spec)
    return ztf_alerts(spec)


def write_night(spec: NightSpec, out: Path, form: Literal["folder", "tarball"] = "folder"
                ) -> int:
    """Write the night to ``out`` (a folder, or a ``.tar.gz`` path); returns the count."""
    return write_files(simulate_night(spec), Path(out), form)


def publish_night(spec: NightSpec, bootstrap_servers: str, topic: str,
                  rate: float | None = None,
                  producer_config: dict[str, Any] | None = None) -> int:
    """Produce the night to a Kafka topic, at most ``rate`` alerts/s when given;
    returns how many packets the broker acknowledged."""
    return publish(simulate_night(spec), bootstrap_servers, topic, rate, producer_config)


__all__ = [
    "KINDS", "DeliveryError", "MissingSchema", "NightSpec", "SimulatedAlert",
    "publish_night", "simulate_galaxy_catalog", "simulate_night", "write_night",
]
