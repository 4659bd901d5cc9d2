"""A public-data user (ZTF programid 1) cannot obtain a programid 2 or 3 alert or
history point by any route; a partner (1, 2) never sees programid 3.

The archive holds the real packets (with a few real programid 2/3 non-detections and
one programid 3 alert) and the rewritten copies of ``data.py``; every answer goes
through the leak detector (no ``programid`` outside the user's set, no hidden candid).
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database

from tests.api.conftest import Api, envelope, error
from tests.api.data import MIXED, PRIVATE, REAL_OBJECT
from tests.api.leaks import assert_no_leak, hidden_values

pytestmark = [pytest.mark.services, pytest.mark.shared_data]

USERS = {"public": [1], "partner": [1, 2]}
#: What identifies a history point (keeps answers under the test server's byte cap).
POINTS = {f"{field}.{key}": 1 for field in ("prv_candidates", "prv_nondetections", "fp_hists")
          for key in ("candid", "programid", "jd")}


def hidden_candids(db: Database, allowed: list[int]) -> set[int]:
    ids = {a["_id"] for a in db.ZTF_alerts.find({"candidate.programid": {"$nin": allowed}},
                                                {"_id": 1})}
    for aux in db.ZTF_alerts_aux.find({}, {"prv_candidates": 1, "fp_hists": 1}):
        for point in aux.get("prv_candidates", []) + aux.get("fp_hists", []):
            if point.get("programid") not in allowed and point.get("candid"):
                ids.add(point["candid"])
    return ids


def position(db: Database, object_id: str) -> list[float]:
    lon, lat = db.ZTF_alerts_aux.find_one({"_id": object_id})["coordinates"][
        "radec_geojson"]["coordinates"]
    return [lon + 180.0, lat]


def answers(api: Api, user: str, allowed: list[int]) -> dict[str, Any]:
    """Every route's answer to ``user`` for questions aimed at data outside ``allowed``."""
    db = api.db
    hidden_alerts = [a["_id"] for a in db.ZTF_alerts.find(
        {"candidate.programid": {"$nin": allowed}}, {"_id": 1})]
    shown = db.ZTF_alerts.find_one({"candidate.programid": 1, "objectId": MIXED})["_id"]
    near = {"here": position(db, REAL_OBJECT)}
    lookup_aux = {"$lookup": {"from": "ZTF_alerts_aux", "localField": "objectId",
                              "foreignField": "_id", "as": "aux"}}
    queries: dict[str, tuple[str, str, dict[str, Any]]] = {
        "find alerts": ("post", "/queries/find", {"catalog_name": "ZTF_alerts", "limit": 500}),
        "find aux": ("post", "/queries/find", {"catalog_name": "ZTF_alerts_aux",
                                               "projection": POINTS}),
        "find cutouts": ("post", "/queries/find", {"catalog_name": "ZTF_alerts_cutouts",
                                                   "projection": {"_id": 1}}),
        "find hidden alerts": ("post", "/queries/find", {
            "catalog_name": "ZTF_alerts", "filter": {"_id": {"$in": hidden_alerts}}}),
        "cone alerts": ("post", "/queries/cone_search", {
            "catalog_name": "ZTF_alerts", "object_coordinates": near, "radius": 30,
            "unit": "Arcseconds"}),
        "cone aux": ("post", "/queries/cone_search", {
            "catalog_name": "ZTF_alerts_aux", "object_coordinates": near, "radius": 30,
            "unit": "Arcseconds"}),
        "pipeline lookup": ("post", "/queries/pipeline", {
            "catalog_name": "ZTF_alerts", "pipeline": [
                lookup_aux, {"$project": {f"aux.{key}": 1 for key in POINTS}}]}),
        "pipeline unionWith": ("post", "/queries/pipeline", {
            "catalog_name": "slow_catalog", "pipeline": [
                {"$limit": 1}, {"$unionWith": {"coll": "ZTF_alerts_aux",
                                               "pipeline": [{"$project": POINTS}]}},
                {"$unionWith": "ZTF_alerts"}, {"$project": {**POINTS, "candidate": 1}}]}),
        "pipeline lookup cutouts": ("post", "/queries/pipeline", {
            "catalog_name": "ZTF_alerts_aux", "pipeline": [
                {"$lookup": {"from": "ZTF_alerts_cutouts", "localField": "prv_candidates.candid",
                             "foreignField": "_id", "as": "stamps"}},
                {"$project": {"stamps._id": 1, **POINTS}}]}),
        "pipeline facet": ("post", "/queries/pipeline", {
            "catalog_name": "ZTF_alerts_aux", "pipeline": [{"$facet": {
                "points": [{"$project": POINTS}, {"$unwind": "$prv_candidates"},
                           {"$replaceRoot": {"newRoot": "$prv_candidates"}}],
                "alerts": [{"$lookup": {"from": "ZTF_alerts", "localField": "_id",
                                        "foreignField": "objectId", "as": "a"}},
                           {"$project": {"a._id": 1, "a.candidate.programid": 1}}]}}]}),
        "sample aux": ("get", "/catalogs/ZTF_alerts_aux/sample?size=200", {}),
        "sample alerts": ("get", "/catalogs/ZTF_alerts/sample?size=500", {}),
        "cutouts batch": ("post", "/surveys/ztf/cutouts", {
            "candids": [*hidden_alerts[:20], shown]}),
        "object mixed": ("get", f"/surveys/ztf/objects/{MIXED}", {}),
        "object real": ("get", f"/surveys/ztf/objects/{REAL_OBJECT}", {}),
    }
    results = {}
    with api.client(user) as client:
        for name, (method, route, body) in queries.items():
            response = client.post(route, json=body) if method == "post" else client.get(route)
            assert response.status_code == 200, (name, response.text)
            results[name] = envelope(response)
    return results


@pytest.mark.parametrize("user", list(USERS))
def test_no_route_returns_hidden_alerts_or_points(api_server: Api, user: str) -> None:
    allowed = USERS[user]
    hidden = hidden_candids(api_server.db, allowed)
    assert len(hidden) > 20
    results = answers(api_server, user, allowed)
    for name, data in results.items():
        assert_no_leak(data, allowed, hidden), name
    assert results["find hidden alerts"] == []
    assert results["find alerts"] and results["cone alerts"]["here"]
    assert results["cutouts batch"]["cutouts"]  # the visible one is served
    if user == "public":
        assert PRIVATE not in str(results)
    if user != "public":
        return
    # The same questions from an admin do return the hidden data: the detector bites.
    admin = answers(api_server, "admin", allowed)
    assert hidden_values(admin["find aux"], allowed, hidden)
    assert hidden_values(admin["cone alerts"], allowed, hidden)
    assert hidden_values(admin["pipeline lookup"], allowed, hidden)


def test_counts_and_probes_see_only_permitted_data(api_server: Api) -> None:
    user, allowed = "public", USERS["public"]
    beyond = [p for p in (1, 2, 3) if p not in allowed]
    probes = [("ZTF_alerts", {"candidate.programid": {"$in": beyond}}),
              ("ZTF_alerts_aux", {"prv_candidates.programid": {"$in": beyond}}),
              ("ZTF_alerts_aux", {"fp_hists.programid": {"$in": beyond}}),
              ("ZTF_alerts_aux", {"prv_nondetections.programid": {"$in": beyond}}),
              ("ZTF_alerts_aux", {"_id": PRIVATE})]
    with api_server.client(user) as client, api_server.client("admin") as admin:
        for catalog, probe in probes:
            body = {"catalog_name": catalog, "filter": probe}
            assert envelope(client.post("/queries/count", json=body)) == 0, probe
            assert envelope(client.post("/queries/find", json=body)) == [], probe
        for catalog, probe in probes[:3]:
            body = {"catalog_name": catalog, "filter": probe}
            assert envelope(admin.post("/queries/count", json=body)) > 0, probe


def test_hidden_alerts_have_no_cutouts_and_graph_walks_are_refused(api_server: Api) -> None:
    db = api_server.db
    hidden = db.ZTF_alerts.find_one({"candidate.programid": 3, "objectId": MIXED})["_id"]
    with api_server.client("public") as client:
        error(client.get("/surveys/ztf/cutouts", params={"candid": hidden}), 404)
        message = error(client.post("/queries/pipeline", json={
            "catalog_name": "ZTF_alerts", "pipeline": [{"$graphLookup": {
                "from": "ZTF_alerts", "startWith": "$objectId", "connectFromField": "objectId",
                "connectToField": "objectId", "as": "same"}}]}), 403)
        assert "$graphLookup" in message
        error(client.post("/queries/pipeline", json={
            "catalog_name": "ZTF_alerts", "pipeline": [{"$lookup": {
                "from": "ZTF_alerts_rejected", "localField": "_id", "foreignField": "_id",
                "as": "raw"}}]}), 404)
    with api_server.client("partner") as client:
        error(client.get("/surveys/ztf/cutouts", params={"candid": hidden}), 404)
    with api_server.client("admin") as client:
        assert envelope(client.get("/surveys/ztf/cutouts", params={"candid": hidden}))
