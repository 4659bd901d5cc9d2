"""Helpers for pipeline tests: the packets under ../shared/data, decoded by fastavro."""

from __future__ import annotations

import io
import math
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from boom_flow.config import Settings, load_settings


def ztf_packet_bytes(shared: Path) -> Iterator[tuple[str, bytes]]:
    """Every real ZTF packet: the loose .avro files and the tarballs' members."""
    for path in sorted((shared / "ztf" / "alerts").rglob("*.avro")):
        yield str(path), path.read_bytes()
    for archive in sorted((shared / "ztf" / "tarballs").glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".avro"):
                    handle = tar.extractfile(member)
                    assert handle is not None
                    yield f"{archive}!{member.name}", handle.read()


def fastavro_records(data: bytes) -> list[dict[str, Any]]:
    return list(fastavro.reader(io.BytesIO(data)))


def same_value(stored: Any, expected: Any) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return stored is None or (isinstance(stored, float) and math.isnan(stored))
    return stored == expected


@pytest.fixture
def pipeline_environment(environment: dict[str, str], shared_data: Path) -> dict[str, str]:
    """The test's stack and database, LSST schemas from the shared folder, small batches."""
    return {
        **environment,
        "BOOM_FLOW_SURVEYS__LSST__SCHEMA_DIR": str(shared_data / "lsst" / "schema"),
        "BOOM_FLOW_BATCH__MAX_ALERTS": "25",
        "BOOM_FLOW_DASK__N_WORKERS": "1",
    }


@pytest.fixture
def pipeline_settings(pipeline_environment: dict[str, str]) -> Settings:
    return load_settings(environ=pipeline_environment)
