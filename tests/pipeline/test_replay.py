"""Replaying the real packets through the Dask pipeline into the real database."""

from __future__ import annotations

import io
import math
import random
import re
import shutil
import struct
import tarfile
from pathlib import Path
from typing import Any

import fastavro
import pymongo
import pytest
from click.testing import CliRunner

from boom_flow.cli.main import cli
from boom_flow.config import Settings
from boom_flow.pipeline.graph import GraphSpec, SourceSpec
from boom_flow.pipeline.run import run_pipeline
from tests.pipeline.conftest import fastavro_records, same_value, ztf_packet_bytes


def _replay(settings: Settings, client: Any, survey: str, path: Path) -> Any:
    graph = GraphSpec(survey=survey, source=SourceSpec(kind="files", path=path))
    return run_pipeline(settings, graph, client=client)


def _expected_ztf_candidate(candidate: dict[str, Any]) -> dict[str, Any]:
    expected = dict(candidate)
    expected["isdiffpos"] = str(candidate["isdiffpos"]).lower() in ("t", "1", "true")
    if candidate.get("ssnamenr") in ("", "null"):
        expected["ssnamenr"] = None
    return expected


def test_every_ztf_packet_is_stored_with_fastavro_values(
    pipeline_settings: Settings, mongo_db: pymongo.database.Database, dask_client: Any,
    shared_data: Path,
) -> None:
    summary_alerts = _replay(pipeline_settings, dask_client, "ztf", shared_data / "ztf")
    expected: dict[int, dict[str, Any]] = {}
    for _, data in ztf_packet_bytes(shared_data):
        for record in fastavro_records(data):
            expected[record["candid"]] = record
    assert summary_alerts.rejected == 0
    assert mongo_db.ZTF_alerts.count_documents({}) == len(expected)
    assert mongo_db.ZTF_alerts_cutouts.count_documents({}) == len(expected)
    objects = {r["objectId"] for r in expected.values()}
    assert mongo_db.ZTF_alerts_aux.count_documents({}) == len(objects)
    for candid, record in expected.items():
        stored = mongo_db.ZTF_alerts.find_one({"_id": candid})
        assert stored is not None and stored["objectId"] == record["objectId"]
        for key, value in _expected_ztf_candidate(record["candidate"]).items():
            assert same_value(stored["candidate"][key], value), (candid, key)
        assert stored["candidate"]["band"] == "gri"[record["candidate"]["fid"] - 1]
        lon, lat = stored["coordinates"]["radec_geojson"]["coordinates"]
        assert lon == pytest.approx(record["candidate"]["ra"] - 180)
        assert lat == pytest.approx(record["candidate"]["dec"])
        cutouts = mongo_db.ZTF_alerts_cutouts.find_one({"_id": candid})
        assert cutouts["cutoutScience"] == record["cutoutScience"]["stampData"]


def _lsst_records(data: bytes, schema_dir: Path) -> list[dict[str, Any]]:
    """Decode a Rubin packet directly with fastavro: wire format or an Avro container."""
    if data[:4] == b"Obj\x01":
        return fastavro_records(data)
    schema_id = struct.unpack(">I", data[1:5])[0]
    major, minor = divmod(schema_id, 100)
    path = schema_dir / f"{major}_{minor}" / f"lsst.v{major}_{minor}.alert.avsc"
    return [fastavro.schemaless_reader(io.BytesIO(data[5:]), fastavro.schema.load_schema(path))]


def test_every_lsst_packet_is_stored_with_fastavro_values(
    pipeline_settings: Settings, mongo_db: pymongo.database.Database, dask_client: Any,
    shared_data: Path,
) -> None:
    lsst = shared_data / "lsst"
    expected: dict[int, dict[str, Any]] = {}
    for folder in ("wire_format", "or4_comcamsim_v7_1", "ocf"):
        summary = _replay(pipeline_settings, dask_client, "lsst", lsst / folder)
        assert summary.rejected == 0
        for path in sorted((lsst / folder).glob("*.avro")):
            for record in _lsst_records(path.read_bytes(), lsst / "schema"):
                expected[record["diaSource"]["diaSourceId"]] = record
    assert mongo_db.LSST_alerts.count_documents({}) == len(expected)
    for source_id, record in expected.items():
        stored = mongo_db.LSST_alerts.find_one({"_id": source_id})
        assert stored is not None, source_id
        source = record["diaSource"]
        for key, value in source.items():
            if key in ("diaObjectId", "ssObjectId") and value == 0:
                value = None  # Rubin 7.x wrote 0 for "none"
            assert same_value(stored["candidate"][key], value), (source_id, key)
        candidate = stored["candidate"]
        assert candidate["jd"] == pytest.approx(source["midpointMjdTai"] + 2400000.5)
        assert candidate["isdiffpos"] == (source["psfFlux"] > 0)
        assert candidate["magpsf"] == pytest.approx(-2.5 * math.log10(abs(source["psfFlux"]))
                                                    + 31.4)
        assert stored["objectId"] == (source.get("diaObjectId") or None)


def test_a_light_curve_in_shuffled_batches_gives_one_complete_sorted_history(
    pipeline_settings: Settings, mongo_db: pymongo.database.Database, dask_client: Any,
    shared_data: Path, tmp_path: Path,
) -> None:
    folder = shared_data / "ztf" / "alerts" / "pgb_ZTF21abiuvdk_lightcurve"
    files = sorted(folder.glob("*.avro"))
    assert len(files) == 34
    random.Random(7).shuffle(files)
    chunks = [files[i:i + 9] for i in range(0, len(files), 9)]
    for number, chunk in enumerate(chunks):
        chunk_dir = tmp_path / f"chunk{number}"
        chunk_dir.mkdir()
        for path in chunk:
            shutil.copy(path, chunk_dir / path.name)
        _replay(pipeline_settings, dask_client, "ztf", chunk_dir)

    records = [r for path in files for r in fastavro_records(path.read_bytes())]
    detections = {r["candidate"]["jd"] for r in records}
    nondetections = set()
    for record in records:
        for point in record.get("prv_candidates") or []:
            (detections if point.get("magpsf") is not None else nondetections).add(point["jd"])
    aux = list(mongo_db.ZTF_alerts_aux.find())
    assert len(aux) == 1 and aux[0]["_id"] == "ZTF21abiuvdk"
    stored_jds = [p["jd"] for p in aux[0]["prv_candidates"]]
    assert stored_jds == sorted(detections)
    assert [p["jd"] for p in aux[0]["prv_nondetections"]] == sorted(nondetections)
    if "fp_hists" in aux[0]:
        fp_jds = [p["jd"] for p in aux[0]["fp_hists"]]
        assert fp_jds == sorted(set(fp_jds))

    before = {c: list(mongo_db[c].find()) for c in mongo_db.list_collection_names()}
    for chunk_dir in sorted(tmp_path.glob("chunk*")):
        _replay(pipeline_settings, dask_client, "ztf", chunk_dir)
    after = {c: list(mongo_db[c].find()) for c in mongo_db.list_collection_names()}
    assert after == before, "ingesting the same alerts again changed the archive"


def _corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:]


def test_bad_packets_are_rejected_with_a_reason_and_the_rest_is_stored(
    pipeline_settings: Settings, mongo_db: pymongo.database.Database, dask_client: Any,
    shared_data: Path, tmp_path: Path,
) -> None:
    good = sorted((shared_data / "ztf" / "alerts" / "boom_20240716").glob("*.avro"))
    night = tmp_path / "night"
    night.mkdir()
    for path in good[1:]:
        shutil.copy(path, night / path.name)
    (night / "corrupt.avro").write_bytes(_corrupt(good[0].read_bytes()))
    archive = night / "truncated.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(good[0], arcname=good[0].name)
        tar.add(good[1], arcname="second.avro")
    archive.write_bytes(archive.read_bytes()[:-2000])
    summary = _replay(pipeline_settings, dask_client, "ztf", night)
    assert mongo_db.ZTF_alerts.count_documents({}) == len(good)  # good[0] came from the tar
    rejected = list(mongo_db.ZTF_alerts_rejected.find())
    assert summary.rejected == len(rejected) == 2
    reasons = {Path(r["source"].split("!")[0]).name: r["reason"] for r in rejected}
    assert set(reasons) == {"corrupt.avro", "truncated.tar.gz"}
    assert all(reason for reason in reasons.values())
    corrupt = next(r for r in rejected if r["source"].endswith("corrupt.avro"))
    assert corrupt["data"] == (night / "corrupt.avro").read_bytes()

    lsst_night = tmp_path / "lsst"
    lsst_night.mkdir()
    wire = sorted((shared_data / "lsst" / "wire_format").glob("*.avro"))
    for path in wire:
        shutil.copy(path, lsst_night / path.name)
    unknown = bytearray(wire[0].read_bytes())
    unknown[1:5] = struct.pack(">I", 4242)
    (lsst_night / "unknown_schema.avro").write_bytes(bytes(unknown))
    lsst_summary = _replay(pipeline_settings, dask_client, "lsst", lsst_night)
    assert lsst_summary.rejected == 1
    assert mongo_db.LSST_alerts.count_documents({}) == len(wire)
    lsst_rejected = mongo_db.LSST_alerts_rejected.find_one()
    assert "4242" in lsst_rejected["reason"]


def test_replay_command_prints_its_summary(
    pipeline_environment: dict[str, str], mongo_db: pymongo.database.Database,
    shared_data: Path,
) -> None:
    folder = shared_data / "ztf" / "alerts" / "boom_20240716"
    result = CliRunner().invoke(cli, ["replay", str(folder), "--survey", "ztf"],
                                env=pipeline_environment)
    assert result.exit_code == 0, result.output
    count = len(list(folder.glob("*.avro")))
    assert f"alerts in:  {count}" in result.output
    assert f"stored:     {count} new" in result.output
    assert "rejected:   0" in result.output
    assert "alerts/s" in result.output
    # Where the run could be watched (stderr, beside the progress bar).
    assert re.search(r"boom_flow dashboard: http://127\.0\.0\.1:\d+/boom_flow", result.output)
