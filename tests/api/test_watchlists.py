"""``/watchlists``: upload (CSV text or targets), ownership, a filter referring to one,
the back-test's ``annotations.watchlist`` on the real archive, and deletion."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, envelope, error
from tests.api.data import REAL_OBJECT

pytestmark = [pytest.mark.services, pytest.mark.shared_data]

PIPELINE = [{"$match": {"candidate.isdiffpos": True}}, {"$project": {"objectId": 1}}]


def test_watchlists_through_the_api(api_server: Api) -> None:
    db = api_server.db
    alerts = list(db.ZTF_alerts.find({"objectId": REAL_OBJECT, "candidate.programid": 1},
                                     {"candidate.ra": 1, "candidate.dec": 1, "candidate.jd": 1})
                  .sort("candidate.jd", 1))
    ra, dec = alerts[0]["candidate"]["ra"], alerts[0]["candidate"]["dec"]
    csv_text = f"name,ra,dec,radius\nmy SN,{ra},{dec + 0.5 / 3600},2\nelsewhere,10,10,5\n"
    with api_server.client("public") as public, api_server.client("partner") as partner:
        message = error(public.post("/watchlists", json={
            "name": "bad", "data": "name,ra,dec,radius\nx,1,2,3\ny,500,2,3\n"}), 400)
        assert "1 of 2 targets refused, nothing stored: row 3: ra must be" in message
        error(public.post("/watchlists", json={"name": "none"}), 400)
        created = envelope(public.post("/watchlists", json={"name": "sn", "data": csv_text,
                                                             "format": "csv"}))
        assert [t["name"] for t in created["targets"]] == ["my SN", "elsewhere"]
        assert [w["targets"] for w in envelope(public.get("/watchlists"))] == [2]
        assert envelope(partner.get("/watchlists")) == []
        error(partner.get(f"/watchlists/{created['id']}"), 404)  # not theirs
        error(partner.post("/filters", json={
            "name": "f", "survey": "ZTF", "permissions": {"ZTF": [1]}, "pipeline": PIPELINE,
            "watchlist_id": created["id"]}), 404)
        watching = envelope(public.post("/filters", json={
            "name": "watching", "survey": "ZTF", "permissions": {"ZTF": [1]},
            "pipeline": PIPELINE, "watchlist_id": created["id"], "active": False}))
        assert watching["watchlist_id"] == created["id"]
        jd = alerts[0]["candidate"]["jd"]
        body = {"survey": "ztf", "permissions": {"ZTF": [1]}, "pipeline": PIPELINE,
                "start_jd": jd - 1, "end_jd": jd + 6, "watchlist_id": created["id"]}
        passed = envelope(public.post("/filters/test", json=body))
        everything = envelope(public.post("/filters/test", json={
            **body, "watchlist_id": None}))
        # Every alert of the window lies at the SN (its rewritten copies too): all pass,
        # and none with a watchlist elsewhere.
        assert [o["_id"] for o in passed] == [o["_id"] for o in everything] and passed
        elsewhere = envelope(public.post("/watchlists", json={"name": "elsewhere", "targets": [
            {"name": "far", "ra": ra, "dec": dec + 3 / 3600, "radius": 2.5}]}))
        assert envelope(public.post("/filters/test", json={
            **body, "watchlist_id": elsewhere["id"]})) == []
        envelope(public.delete(f"/watchlists/{elsewhere['id']}"))
        for output in passed:
            (match,) = output["annotations"]["watchlist"]
            assert match["name"] == "my SN" and 0 <= match["distance_arcsec"] <= 2
        error(partner.post("/filters/test", json=body), 404)
        message = error(public.delete(f"/watchlists/{created['id']}"), 400)
        assert watching["id"] in message
        envelope(public.patch(f"/filters/{watching['id']}", json={"watchlist_id": ""}))
        envelope(public.delete(f"/watchlists/{created['id']}"))
        error(public.get(f"/watchlists/{created['id']}"), 404)
        db.filters.delete_one({"_id": watching["id"]})
