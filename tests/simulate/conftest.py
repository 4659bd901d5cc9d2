"""Simulated nights shared by the simulator's tests (generated once per session), and
the real packets of ../shared/data they are compared with."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro
import pytest

from boom_flow.simulate import NightSpec, SimulatedAlert, simulate_night

#: A night big enough for distributions and revisits, small enough to build in ~1 s.
ZTF_SPEC = NightSpec(survey="ztf", n_alerts=900, seed=11, prior_nights=8)


@pytest.fixture(scope="session")
def ztf_night() -> list[SimulatedAlert]:
    return list(simulate_night(ZTF_SPEC))


@pytest.fixture(scope="session")
def ztf_records(ztf_night: list[SimulatedAlert]) -> list[dict[str, Any]]:
    """The simulated packets read back with fastavro's own container reader."""
    return [next(fastavro.reader(io.BytesIO(alert.packet))) for alert in ztf_night]


def read_real(paths: list[Path]) -> list[tuple[Path, bytes, dict[str, Any]]]:
    out = []
    for path in paths:
        data = path.read_bytes()
        out.extend((path, data, record) for record in fastavro.reader(io.BytesIO(data)))
    return out


@pytest.fixture(scope="session")
def real_402(shared_data: Path) -> list[tuple[Path, bytes, dict[str, Any]]]:
    """The real schema 4.02 packets (with fp_hists)."""
    folders = ("boom_20240716", "boom_tests")
    paths = sorted(p for f in folders for p in (shared_data / "ztf/alerts" / f).glob("*.avro"))
    assert paths, "no real 4.02 packets"
    return read_real(paths)


@pytest.fixture(scope="session")
def real_ztf(shared_data: Path) -> list[tuple[Path, bytes, dict[str, Any]]]:
    """Every real ZTF packet of ../shared/data (schema 3.2 to 4.02)."""
    return read_real(sorted((shared_data / "ztf/alerts").rglob("*.avro")))


@pytest.fixture(scope="session")
def real_writer_schema(real_402: list[tuple[Path, bytes, dict[str, Any]]]) -> Any:
    """The writer schema a real 4.02 packet carries in its container header."""
    return fastavro.reader(io.BytesIO(real_402[0][1])).writer_schema
