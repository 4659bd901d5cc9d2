"""A replayed folder holding a tarball with a corrupt member header and 20 MB of junk
named ``.avro``: the rest of the tarball is read, both bad items are rejected with
their reason and counted, the replay succeeds."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from boom_flow.pipeline.run import files_graph, run_pipeline
from tests.faults.conftest import Figures, case_settings

pytestmark = [pytest.mark.faults, pytest.mark.services, pytest.mark.timeout(300)]


def _tarball_with_a_corrupt_second_header(packets: list[bytes], ids: list[int]) -> bytes:
    buffer = io.BytesIO()
    offsets = []
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for candid, data in zip(ids, packets, strict=True):
            offsets.append(buffer.tell())
            info = tarfile.TarInfo(f"{candid}.avro")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = bytearray(buffer.getvalue())
    header = offsets[1]
    raw[header + 148:header + 156] = b"0000000\0"  # a wrong checksum
    return gzip.compress(bytes(raw))


def test_a_corrupt_tarball_and_a_junk_file_in_a_replayed_folder(
        fault_environment: dict[str, str], fault_client: Any, figures: Figures,
        tmp_path: Path) -> None:
    from boom_flow.simulate import NightSpec, simulate_night
    alerts = list(simulate_night(NightSpec(survey="ztf", n_alerts=12, seed=106)))
    packets, ids = [a.packet for a in alerts], [a.alert_id for a in alerts]
    folder = tmp_path / "night"
    folder.mkdir()
    (folder / "night.tar.gz").write_bytes(_tarball_with_a_corrupt_second_header(packets, ids))
    (folder / "junk.avro").write_bytes(os.urandom(20 * 2**20))
    settings = case_settings(fault_environment, f"faults_{uuid.uuid4().hex[:8]}")
    summary = run_pipeline(settings, files_graph("ztf", folder), client=fault_client)
    mongo = settings.services.mongodb
    import pymongo
    db = pymongo.MongoClient(mongo.connection_uri)[mongo.database]
    stored = {d["_id"] for d in db.ZTF_alerts.find({}, {"_id": 1})}
    reasons = sorted(d["reason"] for d in db.ZTF_alerts_rejected.find({}, {"reason": 1}))
    assert stored == set(ids) - {ids[1]}
    assert len(reasons) == 2 and summary.rejected == 2
    assert "corrupt archive member header" in reasons[0]
    assert "exceeds the maximum" in reasons[1]
    figures.add("corrupt tarball and a 20 MB junk .avro in a replayed folder",
                alerts_produced=len(ids), alerts_stored=len(stored),
                alerts_lost=len(set(ids) - stored) - 1, alerts_duplicated=0,
                alerts_rejected=len(reasons),
                notes="the member behind the corrupt header is the one rejected (its bytes "
                      "kept with the reason); the 11 others stored; the junk file rejected "
                      "with its first MiB, length and SHA-256")
