"""LSST decoding of every real packet (wire format and containers), checked field by
field against fastavro, and the three schema sources (registry, folder, package)."""

from __future__ import annotations

import io
import json
import math
import shutil
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema
import pytest

from boom_flow.core.batch import AlertBatch, RawPacket, records_from_table
from boom_flow.surveys.lsst import SOURCE_FIELDS, lsst_survey

from .conftest import plain


def _load(schema_dir: Path, version: str) -> Any:
    return fastavro.schema.load_schema(str(schema_dir / version / f"lsst.v{version}.alert.avsc"))


def _wire(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


def _references(packet: RawPacket, schema_dir: Path) -> list[tuple[dict[str, Any], str]]:
    """(record, version) of each alert in the packet, decoded by fastavro directly."""
    if packet.data[:4] == b"Obj\x01":
        reader = fastavro.reader(io.BytesIO(packet.data))
        version = reader.writer_schema["name"].split(".")[1][1:].replace("_", ".")
        return [(record, version) for record in reader]
    schema_id = int.from_bytes(packet.data[1:5], "big")
    major, minor = divmod(schema_id, 100)
    record = fastavro.schemaless_reader(io.BytesIO(packet.data[5:]),
                                        _load(schema_dir, f"{major}_{minor}"))
    return [(record, f"{major}.{minor}")]


@pytest.fixture(scope="module")
def lsst_packets(shared_data: Path) -> list[RawPacket]:
    """The real alerts: HSC precursor and ops-rehearsal packets in wire format, and the
    two containers. (``synthetic_fake/`` holds the schema's made-up samples: below.)"""
    root = shared_data / "lsst"
    files = sorted([*root.glob("wire_format/*.avro"), *root.glob("or4_comcamsim_v7_1/*.avro"),
                    *root.glob("ocf/*.avro")])
    assert len(files) == 3 + 51 + 1
    return [RawPacket(p.read_bytes(), str(p)) for p in files]


@pytest.fixture(scope="module")
def decoded(lsst_packets: list[RawPacket], lsst_schema_dir: Path) -> AlertBatch:
    return lsst_survey(schema_dir=lsst_schema_dir, use_package=False).decode(lsst_packets)


@pytest.fixture(scope="module")
def references(lsst_packets: list[RawPacket],
               lsst_schema_dir: Path) -> list[tuple[dict[str, Any], str]]:
    return [ref for packet in lsst_packets for ref in _references(packet, lsst_schema_dir)]


def _jd(mjd_tai: float) -> float:
    leap = 37 if mjd_tai >= 57754 else 36  # the data are from 2016 (HSC) and 2024 (OR4)
    return mjd_tai + 2400000.5 - leap / 86400


def _mag(flux: float | None, error: float | None) -> tuple[float | None, float | None]:
    if flux is None or error is None or flux == 0 or math.isnan(flux):
        return None, None
    return -2.5 * math.log10(abs(flux)) + 31.4, 2.5 / math.log(10) * error / abs(flux)


def _expected_source(raw: dict[str, Any]) -> dict[str, Any]:
    out = {k: plain(v) for k, v in raw.items()}
    out["diaObjectId"] = raw["diaObjectId"] or None
    out["ssObjectId"] = raw["ssObjectId"] or None
    out["jd"] = _jd(raw["midpointMjdTai"])
    out["magpsf"], out["sigmapsf"] = _mag(raw["psfFlux"], raw["psfFluxErr"])
    out["magap"], out["sigmagap"] = _mag(raw["apFlux"], raw["apFluxErr"])
    out["diffmaglim"] = -2.5 * math.log10(5 * raw["psfFluxErr"]) + 31.4
    out["isdiffpos"] = raw["psfFlux"] > 0
    out["snr_psf"] = abs(raw["psfFlux"]) / raw["psfFluxErr"]
    out["snr_ap"] = abs(raw["apFlux"]) / raw["apFluxErr"]
    out["chipsf"] = raw["psfChi2"] / raw["psfNdata"] if raw["psfNdata"] else None
    return out


def _assert_row(row: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if isinstance(value, float):
            assert row[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
        else:
            assert row[name] == value, name


def test_every_real_packet_decodes(decoded: AlertBatch) -> None:
    assert decoded.rejected == ()
    assert len(decoded) == 3 + 50 + 50 + 10
    assert set(decoded.alerts["schema"]) == {"7.1", "7.3", "9.0"}
    assert decoded.survey == "LSST"


def test_candidates_equal_fastavro_after_the_documented_conversions(
        decoded: AlertBatch, references: list[tuple[dict[str, Any], str]],
        lsst_packets: list[RawPacket]) -> None:
    alerts = records_from_table(decoded.alerts)
    candidates = records_from_table(decoded.candidates)
    assert len(candidates) == len(references)
    for alert, row, (record, version) in zip(alerts, candidates, references, strict=True):
        source = record["diaSource"]
        assert alert["_id"] == source["diaSourceId"] and alert["schema"] == version
        assert alert["objectId"] == source["diaObjectId"] and alert["ssObjectId"] is None
        _assert_row(row, _expected_source(source))
        first = (record.get("diaObject") or {}).get("firstDiaSourceMjdTai")
        assert row["jdstarthist"] == (_jd(first) if first and first > 0 else None)
        assert row["ndethist"] == (record.get("diaObject") or {}).get("nDiaSources")
        fields = decoded.schema_fields[version]
        extra = ("jdstarthist", "ndethist") if version == "9.0" else ()
        assert fields == (*source, *SOURCE_FIELDS, *extra)
    ocf = [a["position"] for a in alerts if a["source"].endswith("10alerts.avro")]
    assert ocf == [str(i) for i in range(10)]


def test_histories_carry_the_object_id_and_the_conversions(
        decoded: AlertBatch, references: list[tuple[dict[str, Any], str]]) -> None:
    previous = [(r["diaSource"]["diaObjectId"], s) for r, _ in references
                for s in r.get("prvDiaSources") or []]
    rows = records_from_table(decoded.prv_candidates)
    assert len(rows) == len(previous) == 3489
    for row, (object_id, source) in zip(rows, previous, strict=True):
        assert row["objectId"] == object_id
        _assert_row(row, _expected_source(source))
    forced = [(r["diaSource"]["diaObjectId"], s) for r, _ in references
              for s in r.get("prvDiaForcedSources") or []]
    rows = records_from_table(decoded.fp_hists)
    assert len(rows) == len(forced) == 105
    for row, (object_id, source) in zip(rows, forced, strict=True):
        assert row["objectId"] == object_id and row["jd"] == pytest.approx(
            _jd(source["midpointMjdTai"]), abs=1e-9)
        assert row["psfFlux"] == plain(source["psfFlux"])
        snr = abs(source["psfFlux"]) / source["psfFluxErr"]
        magpsf, _ = _mag(source["psfFlux"], source["psfFluxErr"])
        assert row["magpsf"] == (pytest.approx(magpsf) if snr > 3 else None)
        assert row["diffmaglim"] == pytest.approx(
            -2.5 * math.log10(5 * source["psfFluxErr"]) + 31.4)
    assert len(decoded.prv_nondetections) == 0  # none of the real packets carries limits


def test_cutouts_are_the_packet_bytes(
        decoded: AlertBatch, references: list[tuple[dict[str, Any], str]]) -> None:
    for row, (record, _) in zip(records_from_table(decoded.cutouts), references, strict=True):
        assert row["_id"] == record["diaSource"]["diaSourceId"]
        for name in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
            assert row[name] == record[name]


def test_each_schema_is_parsed_once(shared_data: Path, lsst_schema_dir: Path) -> None:
    wire = [RawPacket(p.read_bytes(), str(p))
            for p in sorted((shared_data / "lsst" / "or4_comcamsim_v7_1").glob("30*.avro"))]
    survey = lsst_survey(schema_dir=lsst_schema_dir, use_package=False)
    for _ in range(3):
        assert len(survey.decode(wire)) == 50
    assert survey.decode.resolver.parse_count == 1 and len(survey.decode.resolver) == 1


def test_unknown_schema_ids_and_bad_bytes_are_rejected_and_the_rest_decodes(
        lsst_packets: list[RawPacket], lsst_schema_dir: Path) -> None:
    good = [p for p in lsst_packets if "wire_format" in p.source]
    payload = good[0].data[5:]
    bad = [
        RawPacket(_wire(4242, payload), "unknown-id", "3:14"),
        RawPacket(good[0].data[:-100], "truncated"),
        RawPacket(b"hello", "not-lsst"),
        RawPacket(_wire(703, payload), "wrong-schema"),
    ]
    batch = lsst_survey(schema_dir=lsst_schema_dir, use_package=False).decode(
        [good[0], *bad, *good[1:]])
    assert len(batch) == 3
    reasons = {r.source: r.reason for r in batch.rejected}
    assert reasons["unknown-id"] == (
        f"unknown LSST schema id 4242: no schema registry configured; not in folder "
        f"{lsst_schema_dir} (no 42_42/ nor 42/42/ holding lsst.v42_42.alert.avsc)")
    assert next(r for r in batch.rejected if r.source == "unknown-id").position == "3:14"
    assert reasons["truncated"].startswith("undecodable LSST packet:")
    assert "neither Rubin's wire format" in reasons["not-lsst"]
    assert reasons["wrong-schema"].startswith("undecodable LSST packet:")


def test_synthetic_samples_need_an_object_id_and_decode_with_schemas_9_to_11(
        shared_data: Path, lsst_schema_dir: Path) -> None:
    """The schema's own fake alerts (9.0, 10.0, 11.0) have neither a diaObjectId nor an
    ssObjectId: rejected as such. Given a diaObjectId and framed in the wire format under
    every newer schema id, they decode with the folder's schemas; given only an
    ssObjectId (a solar-system source), the alert has a null objectId."""
    samples = sorted((shared_data / "lsst" / "synthetic_fake").glob("*.avro"))
    survey = lsst_survey(schema_dir=lsst_schema_dir, use_package=False)
    batch = survey.decode([RawPacket(p.read_bytes(), str(p)) for p in samples])
    assert len(batch) == 0 and len(batch.rejected) == 3
    assert all("neither a diaObjectId nor an ssObjectId" in r.reason for r in batch.rejected)

    framed = []
    for schema_id, sample in ((900, "v9_0"), (1000, "v10_0"), (1100, "v11_0"), (1101, "v11_0")):
        (record,) = list(fastavro.reader(
            io.BytesIO((shared_data / "lsst" / "synthetic_fake" / f"fakeAlert_{sample}.avro")
                       .read_bytes())))
        record["diaSource"]["diaObjectId"] = 1234567890123456789
        major, minor = divmod(schema_id, 100)
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, _load(lsst_schema_dir, f"{major}_{minor}"), record)
        framed.append(RawPacket(_wire(schema_id, buffer.getvalue()), f"fake-{schema_id}"))
    (record,) = list(fastavro.reader(io.BytesIO(samples[0].read_bytes())))
    record["diaSource"]["ssObjectId"] = 42  # a solar-system source: no diaObject
    buffer = io.BytesIO()
    fastavro.writer(buffer, _load(lsst_schema_dir, "10_0"), [record])
    framed.append(RawPacket(buffer.getvalue(), "sso"))
    batch = survey.decode(framed)
    assert batch.rejected == ()
    alerts = records_from_table(batch.alerts)
    assert [a["schema"] for a in alerts] == ["9.0", "10.0", "11.0", "11.1", "10.0"]
    assert [a["objectId"] for a in alerts] == [1234567890123456789] * 4 + [None]
    assert [a["ssObjectId"] for a in alerts] == [None] * 4 + [42]
    assert len(batch.prv_candidates) == 10 and batch.prv_candidates["jd"].notna().all()


class _Registry(BaseHTTPRequestHandler):
    schemas: dict[int, str] = {}
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        schema_id = int(self.path.rsplit("/", 1)[-1])
        if self.path.startswith("/schemas/ids/") and schema_id in self.schemas:
            body = json.dumps({"schema": self.schemas[schema_id]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404, "Schema not found")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def registry(lsst_schema_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """A Confluent-style registry on a free local port that knows schema 701 only."""
    _Registry.schemas = {701: fastavro.schema.to_parsing_canonical_form(
        _load(lsst_schema_dir, "7_1"))}
    _Registry.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", _Registry.hits
    finally:
        server.shutdown()
        server.server_close()


def test_schemas_come_from_the_registry_once_and_unknown_ids_are_remembered(
        registry: tuple[str, list[str]], shared_data: Path) -> None:
    url, hits = registry
    wire = [RawPacket(p.read_bytes(), str(p))
            for p in sorted((shared_data / "lsst" / "or4_comcamsim_v7_1").glob("30*.avro"))]
    v73 = RawPacket(next((shared_data / "lsst" / "wire_format").glob("boom_v7_3*")).read_bytes(),
                    "v7.3")
    batch = lsst_survey(schema_registry_url=url, use_package=False).decode([*wire, v73, v73])
    assert len(batch) == 50 and len(batch.rejected) == 2
    assert batch.rejected[0].reason == (
        f"unknown LSST schema id 703: not in registry {url.rstrip('/')} (HTTP 404); "
        "no schema folder configured")
    assert hits == ["/schemas/ids/701", "/schemas/ids/703"]


def test_an_unreachable_registry_falls_back_to_the_folder(
        lsst_packets: list[RawPacket], lsst_schema_dir: Path) -> None:
    survey = lsst_survey(schema_registry_url="http://127.0.0.1:9", schema_dir=lsst_schema_dir,
                         use_package=False)
    batch = survey.decode([p for p in lsst_packets if "wire_format" in p.source])
    assert len(batch) == 3 and batch.rejected == ()


def test_the_schema_folder_may_use_rubins_package_layout(
        lsst_packets: list[RawPacket], lsst_schema_dir: Path, tmp_path: Path) -> None:
    """``surveys.lsst.schema_dir`` laid out as lsst-alert-packet's ``schema/<major>/<minor>/``
    reads the same packets as the ``<major>_<minor>/`` layout; a mixed folder works too."""
    rubin = tmp_path / "schema"
    for version in sorted(p.name for p in lsst_schema_dir.iterdir()):
        major, minor = version.split("_")
        if version != "7_3":
            shutil.copytree(lsst_schema_dir / version, rubin / major / minor)
    shutil.copytree(lsst_schema_dir / "7_3", rubin / "7_3")
    wire = [p for p in lsst_packets if "wire_format" in p.source]
    batch = lsst_survey(schema_dir=rubin, use_package=False).decode(wire)
    reference = lsst_survey(schema_dir=lsst_schema_dir, use_package=False).decode(wire)
    assert len(batch) == len(reference) == 3 and batch.rejected == ()
    assert batch.alerts["schema"].tolist() == reference.alerts["schema"].tolist()
    missing = lsst_survey(schema_dir=tmp_path / "empty", use_package=False).decode(wire[:1])
    assert "no 7_1/ nor 7/1/ holding lsst.v7_1.alert.avsc" in missing.rejected[0].reason


def test_the_optional_lsst_alert_packet_package_is_the_last_resort(
        lsst_packets: list[RawPacket], lsst_schema_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for the GPL package (never installed here): its ``schema/7/1``."""
    shutil.copytree(lsst_schema_dir / "7_1", tmp_path / "packet" / "schema" / "7" / "1")
    lsst_pkg, alert_pkg, packet_pkg = (types.ModuleType(n) for n in
                                       ("lsst", "lsst.alert", "lsst.alert.packet"))
    packet_pkg.__file__ = str(tmp_path / "packet" / "__init__.py")
    lsst_pkg.alert, alert_pkg.packet = alert_pkg, packet_pkg  # type: ignore[attr-defined]
    for module in (lsst_pkg, alert_pkg, packet_pkg):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    batch = lsst_survey().decode([p for p in lsst_packets if "wire_format" in p.source])
    assert len(batch) == 1 and batch.alerts["schema"].tolist() == ["7.1"]
    assert {r.reason.split(":")[0] for r in batch.rejected} == {
        "unknown LSST schema id 703", "unknown LSST schema id 900"}
    assert "not in lsst-alert-packet" in batch.rejected[0].reason
