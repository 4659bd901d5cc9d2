"""Real packets from ``../shared/data`` as ``RawPacket``s, and reference decoding helpers."""

from __future__ import annotations

import math
import tarfile
from pathlib import Path
from typing import Any

import pytest

from boom_flow.core.batch import RawPacket


@pytest.fixture(scope="session")
def ztf_alert_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "ztf" / "alerts").glob("*/*.avro"))
    assert len(files) == 121
    return files


@pytest.fixture(scope="session")
def ztf_tarball_packets(shared_data: Path) -> list[RawPacket]:
    """Every member of both nightly tarballs, extracted in the test (never on disk)."""
    packets = []
    for archive in sorted((shared_data / "ztf" / "tarballs").glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    packets.append(RawPacket(data, f"{archive}!{member.name}"))
    assert len(packets) == 52
    return packets


@pytest.fixture(scope="session")
def ztf_packets(ztf_alert_files: list[Path],
                ztf_tarball_packets: list[RawPacket]) -> list[RawPacket]:
    return [RawPacket(p.read_bytes(), str(p)) for p in ztf_alert_files] + ztf_tarball_packets


@pytest.fixture(scope="session")
def lsst_schema_dir(shared_data: Path) -> Path:
    return shared_data / "lsst" / "schema"


def plain(value: Any) -> Any:
    """A decoded value as a batch table holds it: NaN is a null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
