"""ZTF decoding of every real packet, checked field by field against ``fastavro.reader``."""

from __future__ import annotations

import copy
import io
import json
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fastavro
import pytest

from boom_flow.core.batch import AlertBatch, RawPacket, records_from_table
from boom_flow.surveys import ztf
from boom_flow.surveys.ztf import DERIVED_FIELDS, ztf_survey

from .conftest import plain

TRUE = ("t", "1", "true")
LN10_OVER_2_5 = math.log(10) / 2.5


def _reference(packet: RawPacket) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record and writer schema as ``fastavro.reader`` sees them."""
    reader = fastavro.reader(io.BytesIO(packet.data))
    (record,) = list(reader)
    return record, reader.writer_schema


@pytest.fixture(scope="module")
def decoded(ztf_packets: list[RawPacket]) -> AlertBatch:
    return ztf_survey().decode(ztf_packets)


@pytest.fixture(scope="module")
def references(ztf_packets: list[RawPacket]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [_reference(p) for p in ztf_packets]


def _flux(mag: float, sigma: float) -> tuple[float, float]:
    flux = 10 ** (-0.4 * (mag - 23.9)) * 1e9
    return flux, sigma * flux * LN10_OVER_2_5


def _limit_error(limit: float) -> float | None:
    try:
        return 10 ** (-0.4 * (limit - 23.9)) / 5 * 1e9
    except OverflowError:  # one 2018 packet has diffmaglim -1006.94: no finite error
        return None


def _expected_detection(raw: dict[str, Any]) -> dict[str, Any]:
    """A candidate or history entry converted by hand, as data-model.md says."""
    out = {k: plain(v) for k, v in raw.items()}
    if raw.get("isdiffpos") is not None:
        out["isdiffpos"] = raw["isdiffpos"].lower() in TRUE
    if raw.get("ssnamenr") in ("", "null"):
        out["ssnamenr"] = None
    out["band"] = {1: "g", 2: "r", 3: "i"}.get(raw["fid"])
    sign = None if out.get("isdiffpos") is None else (1.0 if out["isdiffpos"] else -1.0)
    if raw.get("magpsf") is not None:
        flux, error = _flux(raw["magpsf"], raw["sigmapsf"])
        out["psfFlux"] = None if sign is None else sign * flux
        out["psfFluxErr"] = error
        out["snr_psf"] = out["snr"] = flux / error
    else:  # non-detection: the 5-sigma limit gives the flux error
        out["psfFlux"] = out["snr_psf"] = out["snr"] = None
        out["psfFluxErr"] = _limit_error(raw["diffmaglim"])
    if raw.get("magap") is not None and sign is not None:
        flux, error = _flux(raw["magap"], raw["sigmagap"])
        out["apFlux"], out["apFluxErr"], out["snr_ap"] = sign * flux, error, flux / error
    else:
        out["apFlux"] = out["apFluxErr"] = out["snr_ap"] = None
    return out


def _assert_row(row: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if isinstance(value, float):
            assert row[name] == pytest.approx(value, rel=1e-12), name
        else:
            assert row[name] == value, name


def test_every_real_packet_and_tarball_member_decodes(decoded: AlertBatch) -> None:
    assert len(decoded) == 173 and decoded.rejected == ()
    assert set(decoded.alerts["schema"]) == {"1.8", "3.0", "3.2", "3.3", "4.02"}
    assert decoded.survey == "ZTF"


def test_candidates_equal_fastavro_after_the_documented_conversions(
        decoded: AlertBatch, references: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    alerts = records_from_table(decoded.alerts)
    candidates = records_from_table(decoded.candidates)
    assert len(candidates) == len(references)
    for alert, row, (record, _) in zip(alerts, candidates, references, strict=True):
        assert alert["_id"] == record["candid"] and alert["objectId"] == record["objectId"]
        assert alert["schema"] == record.get("schemavsn", "1.8")
        _assert_row(row, _expected_detection(record["candidate"]))
        fields = decoded.schema_fields[alert["schema"]]
        assert fields == (*record["candidate"], *DERIVED_FIELDS)
        assert all(row[name] is None for name in row if name not in fields)


def test_history_splits_into_detections_and_non_detections(
        decoded: AlertBatch, references: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    entries = [(record["objectId"], entry) for record, _ in references
               for entry in record["prv_candidates"] or []]
    detections = [(o, e) for o, e in entries if e["magpsf"] is not None]
    nondetections = [(o, e) for o, e in entries if e["magpsf"] is None]
    assert (len(detections), len(nondetections)) == (1679, 1668)
    for table, expected in ((decoded.prv_candidates, detections),
                            (decoded.prv_nondetections, nondetections)):
        rows = records_from_table(table)
        assert len(rows) == len(expected)
        for row, (object_id, entry) in zip(rows, expected, strict=True):
            assert row["objectId"] == object_id
            _assert_row(row, _expected_detection(entry))
    assert decoded.prv_nondetections["magpsf"].isna().all()
    assert decoded.prv_candidates["candid"].notna().all()


def test_forced_photometry_is_in_nanojansky_and_sentinels_are_dropped(
        decoded: AlertBatch, references: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    entries = [(record["objectId"], entry) for record, _ in references
               for entry in record.get("fp_hists") or []]
    kept = [(o, e) for o, e in entries if e["forcediffimflux"] != -99999.0
            and math.isfinite(e["forcediffimflux"]) and math.isfinite(e["forcediffimfluxunc"])]
    assert len(entries) - len(kept) == 126  # the 4.02 packets carry 126 sentinel points
    rows = records_from_table(decoded.fp_hists)
    assert len(rows) == len(kept) == 101
    assert -99999.0 not in decoded.fp_hists["forcediffimflux"].tolist()
    for row, (object_id, entry) in zip(rows, kept, strict=True):
        assert row["objectId"] == object_id and row["jd"] == entry["jd"]
        to_njy = 10 ** ((23.9 - entry["magzpsci"]) / 2.5) * 1e9
        assert row["psfFlux"] == pytest.approx(entry["forcediffimflux"] * to_njy, rel=1e-12)
        assert row["psfFluxErr"] == pytest.approx(entry["forcediffimfluxunc"] * to_njy, rel=1e-12)
        snr = abs(entry["forcediffimflux"]) / entry["forcediffimfluxunc"]
        if snr > 3:
            assert row["magpsf"] == pytest.approx(
                entry["magzpsci"] - 2.5 * math.log10(abs(entry["forcediffimflux"])), rel=1e-12)
            assert row["isdiffpos"] == (entry["forcediffimflux"] > 0)
        else:
            assert row["magpsf"] is None and row["isdiffpos"] is None


def test_cutouts_are_the_stamp_bytes(
        decoded: AlertBatch, references: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    rows = records_from_table(decoded.cutouts)
    for row, (record, _) in zip(rows, references, strict=True):
        assert row["_id"] == record["candid"]
        for name in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
            assert row[name] == record[name]["stampData"]


def test_the_verified_stamps_are_kept_inflated_for_the_classifier(
        decoded: AlertBatch, references: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """The decoder inflates every stamp to check it; the classifier's triplets come
    from those FITS bytes, equal to inflating the packed cutouts again."""
    import gzip
    from dataclasses import replace

    import numpy as np

    from boom_flow.core import CUTOUTS, STAMPS_VIEW
    from boom_flow.stages.classify import batch_triplets

    kept = decoded.view(STAMPS_VIEW, lambda _: pytest.fail("the decoder left no stamps"))
    for stamps, (record, _) in zip(kept, references, strict=True):
        assert stamps == tuple(gzip.decompress(record[name]["stampData"]) for name in CUTOUTS)
    from_packets = batch_triplets(replace(decoded, cutouts=decoded.cutouts.copy()))
    np.testing.assert_array_equal(batch_triplets(decoded)[0], from_packets[0])
    assert from_packets[1].all()


def test_the_writer_schema_is_parsed_once(ztf_alert_files: list[Path]) -> None:
    lightcurve = [RawPacket(p.read_bytes(), str(p)) for p in ztf_alert_files
                  if p.parent.name == "pgb_ZTF21abiuvdk_lightcurve"]
    assert len(lightcurve) == 34
    decoder = ztf.ZtfDecoder()
    for _ in range(3):
        assert len(decoder(lightcurve)) == 34
    assert decoder.schemas.parse_count == 1 and len(decoder.schemas) == 1


def test_threads_sharing_one_decoder_parse_each_schema_once(
        ztf_packets: list[RawPacket]) -> None:
    decoder = ztf.ZtfDecoder()
    with ThreadPoolExecutor(4) as pool:
        sizes = list(pool.map(lambda _: len(decoder(ztf_packets)), range(4)))
    assert sizes == [173] * 4
    # 12 distinct header schemas (same versions, different docs or union orders)
    assert decoder.schemas.parse_count == len(decoder.schemas) == 12


def _rewrite(packet: RawPacket, edit_schema: Callable[[dict[str, Any]], None],
             edit_records: Callable[[dict[str, Any]], list[dict[str, Any]]],
             codec: str = "null") -> bytes:
    """The packet's record(s) written again, with its schema and records edited."""
    record, schema = _reference(packet)
    schema = copy.deepcopy(schema)
    edit_schema(schema)
    buffer = io.BytesIO()
    fastavro.writer(buffer, fastavro.parse_schema(json.loads(json.dumps(schema))),
                    edit_records(record), codec=codec)
    return buffer.getvalue()


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_bad_packets_are_rejected_and_the_rest_of_the_batch_decodes(
        ztf_alert_files: list[Path]) -> None:
    good = [RawPacket(p.read_bytes(), str(p), "0:1") for p in ztf_alert_files[:2]]
    data = good[0].data

    def nullable_candid(schema: dict[str, Any]) -> None:
        _field(schema, "candid")["type"] = ["null", "long"]

    def no_candidate(schema: dict[str, Any]) -> None:
        schema["fields"].remove(_field(schema, "candidate"))

    bad = [
        RawPacket(data[: len(data) // 2], "truncated", "0:2"),
        RawPacket(b"Obj\x01" + bytes(b ^ 0xFF for b in data[4:40]) + data[40:], "flipped", "0:3"),
        RawPacket(data[:-3] + bytes(b ^ 0xFF for b in data[-3:]), "flipped-sync", "0:4"),
        RawPacket(_rewrite(good[0], nullable_candid, lambda r: [{**r, "candid": None}]),
                  "no-candid", "0:5"),
        RawPacket(_rewrite(good[0], no_candidate,
                           lambda r: [{k: v for k, v in r.items() if k != "candidate"}]),
                  "no-candidate", "0:6"),
        RawPacket(b"", "empty", "0:7"),
        RawPacket(_flip_middle(data), "flipped-stamp", "0:8"),
    ]
    batch = ztf_survey().decode([good[0], *bad, good[1]])
    assert len(batch) == 2 and batch.alerts["position"].tolist() == ["0:1", "0:1"]
    reasons = {r.source: r.reason for r in batch.rejected}
    assert set(reasons) == {p.source for p in bad}
    assert reasons["truncated"].startswith("undecodable ZTF packet: ContainerError: truncated")
    assert "undecodable ZTF packet" in reasons["flipped"]
    assert "sync marker mismatch" in reasons["flipped-sync"]
    assert reasons["no-candid"] == "ZTF alert has no candid"
    assert reasons["no-candidate"].endswith("has no candidate")
    assert "not an Avro container" in reasons["empty"]
    assert reasons["flipped-stamp"].endswith(
        "cutoutScience is not intact gzip (Error -3 while decompressing data: "
        "incorrect data check)")
    rejected = {r.source: r for r in batch.rejected}
    assert rejected["no-candid"].position == "0:5" and rejected["no-candid"].data == bad[3].data


def _flip_middle(data: bytes) -> bytes:
    """64 bytes flipped in the middle of the packet: inside the science stamp, bytes
    Avro cannot check."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:]


def test_stamp_verification_can_be_switched_off(ztf_alert_files: list[Path]) -> None:
    damaged = RawPacket(_flip_middle(ztf_alert_files[0].read_bytes()), "flipped-stamp")
    assert len(ztf_survey().decode([damaged]).rejected) == 1
    assert len(ztf_survey(verify_cutouts=False).decode([damaged])) == 1


def test_a_deflate_container_of_several_alerts_gives_one_row_each(
        ztf_alert_files: list[Path]) -> None:
    packet = RawPacket(ztf_alert_files[0].read_bytes(), "night.avro", timestamp_ms=1234)
    record, _ = _reference(packet)
    copies = [{**record, "candid": record["candid"] + i} for i in range(3)]
    data = _rewrite(packet, lambda s: None, lambda r: copies, codec="deflate")
    batch = ztf_survey().decode([RawPacket(data, "night.avro", timestamp_ms=1234)])
    rows = records_from_table(batch.alerts)
    assert [r["_id"] for r in rows] == [c["candid"] for c in copies]
    assert [r["position"] for r in rows] == ["0", "1", "2"]
    assert {r["timestamp_ms"] for r in rows} == {1234}
    assert len(batch.prv_candidates) == 3 * sum(
        e["magpsf"] is not None for e in record["prv_candidates"] or [])


def test_an_empty_batch_has_empty_tables() -> None:
    batch = ztf_survey().decode([])
    assert len(batch) == 0 and batch.rejected == ()
    assert list(batch.prv_candidates.columns) == ["objectId", "jd"]
    assert list(batch.cutouts.columns) == ["_id", "cutoutScience", "cutoutTemplate",
                                           "cutoutDifference"]
