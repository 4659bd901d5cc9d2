"""``/surveys/{survey}``: cutouts (single and batch) and the object view."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest

from boom_flow.storage import write_batch
from boom_flow.surveys import build_survey
from tests.api.conftest import Api, envelope, error
from tests.api.data import MIXED, PRIVATE, REAL_OBJECT
from tests.stages.test_lsst_enrichment import solar_system_packets

pytestmark = [pytest.mark.services, pytest.mark.shared_data]


def test_cutouts_by_candid_are_the_stored_bytes(api_server: Api) -> None:
    stored = api_server.db.ZTF_alerts_cutouts.find_one({})
    with api_server.client("admin") as client:
        data = envelope(client.get("/surveys/ztf/cutouts", params={"candid": stored["_id"]}))
    assert data["candid"] == stored["_id"]
    for name in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
        raw = base64.b64decode(data[name])
        assert raw == stored[name]
        assert gzip.decompress(raw)[:6] == b"SIMPLE"  # a gzipped FITS stamp


@pytest.mark.parametrize(("which", "field", "direction"), [
    ("first", "candidate.jd", 1), ("last", "candidate.jd", -1),
    ("brightest", "candidate.magpsf", 1), ("faintest", "candidate.magpsf", -1)])
def test_cutouts_by_object(api_server: Api, which: str, field: str, direction: int) -> None:
    db = api_server.db
    for band in (None, "r"):
        query = {"objectId": REAL_OBJECT, **({"candidate.band": band} if band else {})}
        expected = db.ZTF_alerts.find(query).sort(field, direction).limit(1)[0]["_id"]
        params = {"objectId": REAL_OBJECT, "which": which, **({"band": band} if band else {})}
        with api_server.client("public") as client:
            data = envelope(client.get("/surveys/ZTF/cutouts", params=params))
        assert data["candid"] == expected


def test_cutouts_errors(api_server: Api) -> None:
    with api_server.client("public") as client:
        error(client.get("/surveys/ztf/cutouts"), 400)
        error(client.get("/surveys/ztf/cutouts", params={"candid": 1, "objectId": "x"}), 400)
        error(client.get("/surveys/ztf/cutouts", params={"candid": 1}), 404)
        error(client.get("/surveys/ztf/cutouts", params={"objectId": "ZTF00nothing"}), 404)
        error(client.get("/surveys/ztf/cutouts", params={"objectId": REAL_OBJECT,
                                                         "which": "median"}), 422)
        error(client.get("/surveys/decam/cutouts", params={"candid": 1}), 404)
        error(client.get("/surveys/lsst/cutouts", params={"objectId": "not-a-number"}), 400)
        error(client.post("/surveys/ztf/cutouts", json={"candids": list(range(101))}), 413)
        error(client.post("/surveys/ztf/cutouts", json={"candids": "all"}), 422)


def test_cutouts_batch(api_server: Api) -> None:
    db = api_server.db
    alerts = list(db.ZTF_alerts.find({"objectId": REAL_OBJECT}).sort("candidate.jd", 1).limit(5))
    candids = [a["_id"] for a in alerts] + [123]
    with api_server.client("public") as client:
        data = envelope(client.post("/surveys/ztf/cutouts", json={"candids": candids}))
    assert [c["candid"] for c in data["cutouts"]] == candids[:5]
    assert [c["jd"] for c in data["cutouts"]] == [a["candidate"]["jd"] for a in alerts]
    stored = db.ZTF_alerts_cutouts.find_one({"_id": candids[0]})
    assert base64.b64decode(data["cutouts"][0]["cutoutDifference"]) == \
        stored["cutoutDifference"]


def test_object_view(api_server: Api) -> None:
    db = api_server.db
    with api_server.client("admin") as client:
        data = envelope(client.get(f"/surveys/ztf/objects/{REAL_OBJECT}"))
        error(client.get("/surveys/ztf/objects/ZTF00nothing"), 404)
    aux = db.ZTF_alerts_aux.find_one({"_id": REAL_OBJECT})
    assert data["objectId"] == data["object_id"] == REAL_OBJECT
    assert data["candidate"] == data["alerts"][-1]["candidate"]
    assert [a["_id"] for a in data["alerts"]] == [
        a["_id"] for a in db.ZTF_alerts.find({"objectId": REAL_OBJECT}).sort("candidate.jd", 1)]
    assert all("cutoutScience" not in a for a in data["alerts"])
    assert len(data["prv_candidates"]) == len(aux["prv_candidates"]) > 30
    assert len(data["prv_nondetections"]) == len(aux["prv_nondetections"])
    assert [p["jd"] for p in data["fp_hists"]] == [p["jd"] for p in aux.get("fp_hists", [])]
    assert data["coordinates"]["radec_geojson"] == aux["coordinates"]["radec_geojson"]
    assert set(data) >= {"cross_matches", "aliases", "classifications"}


def test_private_objects_are_hidden_from_the_public(api_server: Api) -> None:
    db = api_server.db
    with api_server.client("public") as client:
        error(client.get(f"/surveys/ztf/objects/{PRIVATE}"), 404)
        error(client.get("/surveys/ztf/cutouts", params={"objectId": PRIVATE}), 404)
        mixed = envelope(client.get(f"/surveys/ztf/objects/{MIXED}"))
        last = envelope(client.get("/surveys/ztf/cutouts", params={"objectId": MIXED}))
    public = list(db.ZTF_alerts.find({"objectId": MIXED, "candidate.programid": 1})
                  .sort("candidate.jd", 1))
    assert [a["_id"] for a in mixed["alerts"]] == [a["_id"] for a in public]
    assert last["candid"] == public[-1]["_id"]
    assert {p["programid"] for p in mixed["prv_candidates"]} == {1}
    assert {p["programid"] for p in mixed["fp_hists"]} <= {1}
    with api_server.client("partner") as client:
        seen = envelope(client.get(f"/surveys/ztf/objects/{PRIVATE}"))
    assert {a["candidate"]["programid"] for a in seen["alerts"]} == {2}
    assert {p["programid"] for p in seen["prv_candidates"]} == {2}


def test_lsst_objects_have_integer_ids_and_no_programid_rights(api_server: Api) -> None:
    db = api_server.db
    db.LSST_alerts.insert_many([
        {"_id": 9000 + j, "objectId": 4400, "candidate": {"jd": 2460800.5 + j, "band": "r",
                                                         "magpsf": 20.0 - j}}
        for j in range(3)])
    db.LSST_alerts_cutouts.insert_one({"_id": 9002, "cutoutScience": b"fits",
                                       "cutoutTemplate": b"t", "cutoutDifference": b"d"})
    db.LSST_alerts_aux.insert_one({"_id": 4400, "prv_candidates": [{"jd": 2460800.5}]})
    with api_server.client("nobody") as client:  # no ZTF rights at all
        data = envelope(client.get("/surveys/lsst/objects/4400"))
        assert [a["_id"] for a in data["alerts"]] == [9000, 9001, 9002]
        assert data["prv_candidates"] == [{"jd": 2460800.5}]
        brightest = envelope(client.get("/surveys/LSST/cutouts",
                                        params={"objectId": "4400", "which": "brightest"}))
        assert brightest["candid"] == 9002
        assert base64.b64decode(brightest["cutoutScience"]) == b"fits"
        error(client.get("/surveys/ztf/objects/ZTF21abiuvdk"), 404)  # ZTF: nothing visible


@pytest.mark.shared_data
def test_solar_system_objects_are_found_by_ss_object_id(api_server: Api,
                                                        shared_data: Path) -> None:
    """Alerts of an asteroid (no diaObjectId, so no object page) are served by their
    ssObjectId with their ssSource records and the latest MPC orbit."""
    db = api_server.db
    batch = build_survey("lsst", schema_dir=str(shared_data / "lsst/schema")).decode(
        solar_system_packets(shared_data))
    assert batch.rejected == ()
    try:
        write_batch(db, batch)
        with api_server.client("nobody") as client:
            data = envelope(client.get("/surveys/LSST/ss_objects/4200001"))
            assert [a["ssObjectId"] for a in data["alerts"]] == [4_200_001] * 2
            jds = [a["candidate"]["jd"] for a in data["alerts"]]
            assert jds == sorted(jds)
            assert [s["diaSourceId"] for s in data["ssSource"]] == [
                a["_id"] for a in data["alerts"]]
            assert data["mpc_orbits"]["designation"] == "2025 AB"
            assert data["mpc_orbits"]["created_at"].startswith("2025-11-03T04:05:06")
            assert data["designation"] == "designation-2025 AB"
            other = envelope(client.get("/surveys/lsst/ss_objects/4200002"))
            assert len(other["alerts"]) == 1 and other["mpc_orbits"] is None
            error(client.get("/surveys/lsst/ss_objects/4200003"), 404)
            error(client.get("/surveys/ztf/ss_objects/4200001"), 404)
            found = envelope(client.post("/queries/find", json={
                "catalog_name": "LSST_alerts", "filter": {"ssObjectId": 4_200_002},
                "projection": {"ssSource.ssObjectId": 1}}))
            assert [d["ssSource"]["ssObjectId"] for d in found] == [4_200_002]
    finally:
        for name in ("LSST_alerts", "LSST_alerts_aux", "LSST_alerts_cutouts"):
            db[name].drop()
