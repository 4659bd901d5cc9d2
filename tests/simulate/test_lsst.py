"""Simulated LSST packets: Rubin's wire format against the real Rubin schemas."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro
import fastavro.schema
import pytest

from boom_flow.core.batch import RawPacket
from boom_flow.simulate import MissingSchema, NightSpec, simulate_night
from boom_flow.simulate.lsst import LsstNight
from boom_flow.surveys import build_survey


def lsst_spec(shared_data: Path, version: str, **changes: object) -> NightSpec:
    return NightSpec(survey="lsst", n_alerts=150, seed=3, prior_nights=4,
                     lsst_schema_version=version, lsst_schema_dir=shared_data / "lsst/schema",
                     **changes)


@pytest.mark.parametrize("version", ["7.1", "9.0", "11.1"])
def test_packets_are_rubin_wire_format_for_the_real_schema(shared_data: Path,
                                                           version: str) -> None:
    major, minor = version.split(".")
    schema = fastavro.schema.load_schema(
        str(shared_data / f"lsst/schema/{major}_{minor}/lsst.v{major}_{minor}.alert.avsc"))
    alerts = list(simulate_night(lsst_spec(shared_data, version)))
    assert len(alerts) == 150
    for alert in alerts:
        assert alert.packet[0] == 0
        assert int.from_bytes(alert.packet[1:5], "big") == int(major) * 100 + int(minor)
        stream = io.BytesIO(alert.packet[5:])
        record = fastavro.schemaless_reader(stream, schema)
        assert stream.read() == b""
        assert record["diaSource"]["diaSourceId"] == alert.alert_id
        source = record["diaSource"]
        assert alert.object_id in (source["diaObjectId"], source["ssObjectId"])
    survey = build_survey("lsst", schema_dir=shared_data / "lsst/schema", use_package=False)
    batch = survey.decode([RawPacket(a.packet, "sim") for a in alerts])
    assert not batch.rejected
    assert set(batch.alerts["schema"]) == {version}
    assert len(batch.prv_candidates) and len(batch.fp_hists)
    moving = [a for a in alerts if a.kind == "moving"]
    assert moving and batch.alerts["ssObjectId"].notna().sum() == len(moving)
    magnitudes = batch.candidates["magpsf"].astype(float)
    assert 17 < magnitudes.median() < 25  # Rubin depth, not ZTF's


def test_lsst_is_deterministic_and_revisits(shared_data: Path) -> None:
    first = list(simulate_night(lsst_spec(shared_data, "7.1")))
    again = list(simulate_night(lsst_spec(shared_data, "7.1")))
    assert [a.packet for a in first] == [a.packet for a in again]
    static = [a.object_id for a in first if a.kind != "moving"]
    assert len(set(static)) < len(static)


def test_lsst_without_a_schema_folder_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(MissingSchema, match="schema"):
        list(simulate_night(NightSpec(survey="lsst", n_alerts=5)))
    with pytest.raises(MissingSchema, match=r"schema 9\.0"):
        list(simulate_night(NightSpec(survey="lsst", n_alerts=5, lsst_schema_version="9.0",
                                      lsst_schema_dir=tmp_path)))


@pytest.mark.parametrize("version", ["7.1", "11.1"])
def test_the_fast_path_writes_what_fastavro_writes(shared_data: Path, version: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Records assembled from column-encoded parts equal fastavro's encoding of the
    same records as dicts (the path taken for a schema the fast path does not know)."""
    spec = lsst_spec(shared_data, version)
    night = LsstNight(spec)
    assert night.layout is not None
    fast = [alert.packet for alert in night.alerts()]
    monkeypatch.setattr(LsstNight, "_fast_layout", lambda self: None)
    assert [alert.packet for alert in LsstNight(spec).alerts()] == fast


def test_each_night_of_a_seed_has_its_own_dia_source_ids(shared_data: Path) -> None:
    """Issue 16: a second night at another --night-jd was stored as "already in the
    archive" because every night of a seed had the same diaSourceIds."""
    first = {a.alert_id for a in simulate_night(lsst_spec(shared_data, "7.1"))}
    spec = lsst_spec(shared_data, "7.1")
    second = {a.alert_id for a in simulate_night(lsst_spec(shared_data, "7.1",
                                                           night_jd=spec.night_jd + 1))}
    assert len(first) == len(second) == 150
    assert not first & second
    assert all(0 < i < 2**63 for i in first | second)
