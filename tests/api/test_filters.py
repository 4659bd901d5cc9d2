"""``/filters``: lifecycle, ownership, rights, back-tests equal to the live stage, results.

The live run: copies of ZTF21abiuvdk's 34 packets (mixed programids, objectId
``LIVE``) go through what a worker does per batch (``pipeline.worker``: decode,
``load_known``, the filter stage with the live provider reading the filter created
through the API, ``write_batch``, the results publisher to Kafka and Valkey), eight
packets a batch in time order. ``POST /filters/test`` over the same nights must then
return exactly what the live stage passed, and ``GET /filters/{id}/results`` what it
published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from boom_flow.config import load_settings
from boom_flow.core.batch import RawPacket
from boom_flow.filters.aliases import alias_visibility
from boom_flow.filters.evaluate import RESULTS
from boom_flow.filters.live import LiveFilters
from boom_flow.filters.publish import ResultsPublisher, ensure_topic
from boom_flow.filters.results import results_topic
from boom_flow.stages.filter import FilterStage
from boom_flow.storage import write_batch
from boom_flow.storage.known import load_known
from boom_flow.surveys import build_survey
from tests.api.conftest import Api, envelope, error
from tests.api.data import (
    LIGHTCURVE,
    MIXED,
    PRIVATE,
    REAL_OBJECT,
    decode,
    mixed_programid,
    rewrite,
)

pytestmark = [pytest.mark.services, pytest.mark.shared_data]

LIVE = "ZTF21liveobj"
LIVE_OFFSET = 4 * 10**18
PIPELINE = [
    {"$match": {"candidate.magpsf": {"$lt": 14.5}, "candidate.isdiffpos": True}},
    {"$project": {"objectId": 1, "annotations": {
        "points": {"$size": {"$ifNull": ["$prv_candidates", []]}},
        "mag": {"$round": ["$candidate.magpsf", 3]}}}},
]


def _live_packets(shared: Path) -> list[RawPacket]:
    packets = [RawPacket(rewrite(path.read_bytes(), LIVE, LIVE_OFFSET, mixed_programid),
                         f"live:{path.name}")
               for path in sorted((shared / LIGHTCURVE).glob("*.avro"))]
    return sorted(packets, key=lambda p: decode([p]).candidates["jd"].iloc[0])


@pytest.fixture(scope="module")
def live_run(api_server: Api, shared_data: Path) -> tuple[str, list[dict[str, Any]]]:
    """(filter id, the live stage's outputs in time order)."""
    with api_server.client("public") as client:
        created = envelope(client.post("/filters", json={
            "name": "bright", "survey": "ZTF", "permissions": {"ZTF": [1]},
            "pipeline": PIPELINE}))
    settings = load_settings(environ=api_server.environment)
    valkey = redis.Redis.from_url(settings.services.valkey.connection_url)
    producer_config = settings.services.kafka.producer_config()
    ensure_topic(producer_config, results_topic("ztf"))
    import confluent_kafka

    from boom_flow.filters.ledger import PublicationLedger

    publisher = ResultsPublisher(confluent_kafka.Producer(producer_config), valkey,
                                 PublicationLedger(api_server.db, "ztf"), "ztf")
    stage = FilterStage(LiveFilters(api_server.db.filters, valkey, "ZTF"))
    outputs: list[dict[str, Any]] = []
    packets = _live_packets(shared_data)
    for start in range(0, len(packets), 8):
        batch = stage(load_known(api_server.db, decode(packets[start:start + 8])))
        write_batch(api_server.db, batch)
        publisher(batch)
        for result in batch.enrichments[RESULTS].tolist():
            if result:
                outputs += [p["output"] for p in result["filters"]
                            if p["filter_id"] == created["id"]]
    valkey.close()
    return created["id"], outputs


def _test_body(start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {"survey": "ztf", "permissions": {"ZTF": [1]}, "pipeline": PIPELINE,
            "start_jd": start, "end_jd": end, "object_ids": [LIVE], **extra}


def test_backtest_equals_the_live_stage(api_server: Api,
                                        live_run: tuple[str, list[dict[str, Any]]]) -> None:
    _, live = live_run
    jds = sorted(a["candidate"]["jd"] for a in api_server.db.ZTF_alerts.find({"objectId": LIVE}))
    assert 3 < len(live) < len(jds)  # some pass, not all
    assert all(o["_id"] % 10**18 for o in live)
    tested: list[dict[str, Any]] = []
    start = jds[0] - 0.01
    with api_server.client("public") as client:
        while start <= jds[-1]:
            body = _test_body(start, start + 7.0 - 1e-6)
            passed = envelope(client.post("/filters/test", json=body))
            assert envelope(client.post("/filters/test/count", json=body)) == len(passed)
            tested += passed
            start += 7.0
    assert tested == live
    # Histories were trimmed to programid 1 in both, and grew without look-ahead.
    points = [o["annotations"]["points"] for o in live]
    assert points == sorted(points) and points[0] < points[-1]


def test_results_route_serves_what_the_live_run_published(
        api_server: Api, live_run: tuple[str, list[dict[str, Any]]]) -> None:
    filter_id, live = live_run
    with api_server.client("public") as client:
        found = envelope(client.get(f"/filters/{filter_id}/results", params={"since": 0}))
        assert sorted(r["candid"] for r in found) == sorted(o["_id"] for o in live)
        two = envelope(client.get(f"/filters/{filter_id}/results", params={"limit": 2}))
        assert two == found[:2]
        assert envelope(client.get(f"/filters/{filter_id}/results",
                                   params={"since": 10**13})) == []
    with api_server.client("partner") as other:
        error(other.get(f"/filters/{filter_id}/results"), 404)
    # A filter whose programids exceed its owner's current rights serves no results.
    users = api_server.db.users
    users.update_one({"username": "public"}, {"$set": {"permissions": {}}})
    try:
        with api_server.client("public") as client:
            error(client.get(f"/filters/{filter_id}/results"), 403)
    finally:
        users.update_one({"username": "public"}, {"$set": {"permissions": {"ZTF": [1]}}})


def test_backtest_errors(api_server: Api) -> None:
    with api_server.client("public") as client:
        assert "7 days" in error(client.post("/filters/test", json=_test_body(0, 8)), 400)
        assert "programids" in error(client.post("/filters/test", json={
            **_test_body(0, 1), "permissions": {"ZTF": [1, 2]}}), 403)
        message = error(client.post("/filters/test", json={
            **_test_body(0, 1), "pipeline": [{"$lookup": {"from": "x"}}]}), 400)
        assert "$lookup" in message
        error(client.post("/filters/test/count", json={"survey": "ztf"}), 422)


def test_filter_lifecycle_and_ownership(api_server: Api) -> None:
    with api_server.client("public") as public, api_server.client("partner") as partner, \
            api_server.client("admin") as admin:
        created = envelope(public.post("/filters", json={
            "name": "first", "description": "d", "survey": "ZTF",
            "permissions": {"ZTF": [1]}, "pipeline": PIPELINE}))
        filter_id = created["id"]
        assert created["active"] is True and len(created["fv"]) == 1
        assert created["user_id"] == api_server.db.users.find_one({"username": "public"})["_id"]
        assert filter_id in {f["id"] for f in envelope(public.get("/filters"))}
        assert filter_id not in {f["id"] for f in envelope(partner.get("/filters"))}
        assert filter_id in {f["id"] for f in envelope(admin.get("/filters"))}
        assert envelope(public.get(f"/filters/{filter_id}"))["name"] == "first"
        error(partner.get(f"/filters/{filter_id}"), 404)
        error(public.get("/filters/no-such-filter"), 404)

        changed = envelope(public.patch(f"/filters/{filter_id}",
                                        json={"name": "renamed", "active": False}))
        assert changed["name"] == "renamed" and changed["active"] is False
        error(public.patch(f"/filters/{filter_id}", json={}), 400)
        error(public.patch(f"/filters/{filter_id}", json={"active_fid": "nope"}), 404)
        error(public.patch(f"/filters/{filter_id}", json={"permissions": {"ZTF": [3]}}), 403)
        error(partner.patch(f"/filters/{filter_id}", json={"name": "mine"}), 404)

        version = envelope(public.post(f"/filters/{filter_id}/versions",
                                       json={"pipeline": PIPELINE[:1] + PIPELINE[1:]}))
        after = envelope(public.get(f"/filters/{filter_id}"))
        assert after["active_fid"] == version["fid"] and len(after["fv"]) == 2
        message = error(public.post(f"/filters/{filter_id}/versions",
                                    json={"pipeline": [{"$match": {"$where": "1"}}]}), 403)
        assert "$where" in message
        back = envelope(public.patch(f"/filters/{filter_id}",
                                     json={"active_fid": created["active_fid"]}))
        assert back["active_fid"] == created["active_fid"]


def test_invalid_filters_are_refused_with_the_reason(api_server: Api) -> None:
    base = {"name": "bad", "survey": "ZTF", "permissions": {"ZTF": [1]}}
    with api_server.client("public") as client:
        message = error(client.post("/filters", json={**base, "pipeline": [
            {"$match": {}}, {"$unwind": "$prv_candidates"}, {"$project": {"objectId": 1}}]}),
            400)
        assert "$unwind" in message
        error(client.post("/filters", json={**base, "pipeline": PIPELINE,
                                            "permissions": {"ZTF": [1, 2]}}), 403)
        error(client.post("/filters", json={**base, "pipeline": PIPELINE, "survey": "DECAM"}),
              400)
        error(client.post("/filters", json={"name": "x"}), 422)
    with api_server.client(None) as anonymous:
        error(anonymous.get("/filters"), 401)


def test_live_lsst_filters_name_the_ztf_aliases_exactly_as_the_backtest(
        api_server: Api, shared_data: Path) -> None:
    """A real LSST packet whose object has a public and a programid-2-only ZTF alias:
    each user's live LSST filter (the worker's stage: one visibility read a batch) sees
    the aliases that user's ``POST /filters/test`` of the same filter returns."""
    db = api_server.db
    packet = shared_data / "lsst/wire_format/boom_v9_0_7912941781254298.avro"
    survey = build_survey("lsst", schema_dir=str(shared_data / "lsst/schema"))
    batch = survey.decode([RawPacket(packet.read_bytes(), str(packet))])
    object_id = int(batch.alerts["objectId"].iloc[0])
    pipeline = [{"$match": {"objectId": object_id}}, {"$project": {"objectId": 1, "aliases": 1}}]
    jd = float(batch.candidates["jd"].iloc[0])
    created = {}
    for user in ("public", "partner", "admin"):
        with api_server.client(user) as client:
            created[user] = envelope(client.post("/filters", json={
                "name": f"aliases-{user}", "survey": "LSST", "pipeline": pipeline}))["id"]
    db.LSST_alerts_aux.insert_one({"_id": object_id, "aliases": {"ZTF": [REAL_OBJECT, PRIVATE]}})
    try:
        stage = FilterStage(LiveFilters(db.filters, None, "LSST"),
                            alias_visibility=alias_visibility(db))
        reads = []
        original = stage.alias_visibility
        stage.alias_visibility = lambda ids: reads.append(list(ids)) or original(ids)
        filtered = stage(load_known(db, batch))
        write_batch(db, filtered)
        (result,) = [r for r in filtered.enrichments[RESULTS].tolist() if r]
        live = {p["filter_id"]: p["output"].get("aliases", {}).get("ZTF")
                for p in result["filters"]}
        tested = {}
        for user in created:
            with api_server.client(user) as client:
                (passed,) = envelope(client.post("/filters/test", json={
                    "survey": "lsst", "pipeline": pipeline, "start_jd": jd - 0.5,
                    "end_jd": jd + 0.5}))
            tested[user] = passed.get("aliases", {}).get("ZTF")
    finally:
        for filter_id in created.values():
            db.filters.delete_one({"_id": filter_id})
        for name in ("LSST_alerts", "LSST_alerts_aux", "LSST_alerts_cutouts"):
            db[name].drop()
    assert reads == [[REAL_OBJECT, PRIVATE]]  # one read for the batch
    assert tested == {"public": [REAL_OBJECT], "partner": [REAL_OBJECT, PRIVATE],
                      "admin": [REAL_OBJECT, PRIVATE]}
    assert {user: live[filter_id] for user, filter_id in created.items()} == tested


def test_backtest_of_lsst_names_only_the_ztf_aliases_the_user_may_see(api_server: Api) -> None:
    db = api_server.db
    db.LSST_alerts.insert_one({"_id": 7_000_001, "objectId": 7_001,
                               "candidate": {"jd": 2460100.5, "ra": 10.0, "dec": -5.0}})
    db.LSST_alerts_aux.insert_one({"_id": 7_001, "aliases": {"ZTF": [REAL_OBJECT, PRIVATE]}})
    body = {"survey": "lsst", "pipeline": [{"$match": {"objectId": 7_001}},
                                           {"$project": {"objectId": 1, "aliases": 1}}],
            "start_jd": 2460100.0, "end_jd": 2460101.0}
    try:
        seen = {}
        for user in ("public", "partner", "admin"):
            with api_server.client(user) as client:
                passed = envelope(client.post("/filters/test", json=body))
            seen[user] = [o.get("aliases", {}).get("ZTF") for o in passed]
    finally:
        db.LSST_alerts.drop()
        db.LSST_alerts_aux.drop()
    assert seen == {"public": [[REAL_OBJECT]], "partner": [[REAL_OBJECT, PRIVATE]],
                    "admin": [[REAL_OBJECT, PRIVATE]]}


def test_activation_over_max_match_rate_is_refused_and_only_admins_force_it(
        api_server: Api) -> None:
    broad = [{"$match": {"candidate.magpsf": {"$lt": 99}}}, {"$project": {"objectId": 1}}]
    everything = {"reference_start_jd": 0, "reference_end_jd": 3e6}
    base = {"name": "everything", "survey": "ZTF", "permissions": {"ZTF": [1]},
            "pipeline": broad, **everything}
    alerts = api_server.db.ZTF_alerts.count_documents({"candidate.programid": 1})
    with api_server.client("public") as public, api_server.client("admin") as admin:
        message = error(public.post("/filters", json=base), 400)
        assert f"100.00% pass ({alerts} of {alerts} stored ZTF alerts" in message
        assert "filters.max_match_rate = 5%" in message and '"force": true' in message
        assert "only an admin" in error(public.post("/filters", json={**base, "force": True}),
                                        403)
        stored = envelope(public.post("/filters", json={**base, "active": False}))
        assert "activation refused" in error(public.patch(
            f"/filters/{stored['id']}", json={"active": True, **everything}), 400)
        forced = envelope(admin.patch(f"/filters/{stored['id']}",
                                      json={"active": True, "force": True}))
        assert forced["active"] is True
        # a new version of a live filter is checked as well
        assert "activation refused" in error(public.post(
            f"/filters/{stored['id']}/versions", json={"pipeline": broad, **everything}), 400)
        assert len(envelope(public.get(f"/filters/{stored['id']}"))["fv"]) == 1
        narrow = [{"$match": {"candidate.magpsf": {"$lt": 5}}}, {"$project": {"objectId": 1}}]
        response = public.post("/filters", json={**base, "pipeline": narrow})
        assert response.status_code == 200
        assert f"reference night: 0.00% pass (0 of {alerts} stored" in response.json()["message"]


def test_explain_counts_stages_and_traces_only_what_the_user_may_see(api_server: Api) -> None:
    alerts = list(api_server.db.ZTF_alerts.find({"objectId": MIXED}).sort("candidate.jd", 1))
    first = alerts[0]["candidate"]["jd"]
    window = [a for a in alerts if a["candidate"]["jd"] <= first + 7.0 - 1e-6]
    public = [a for a in window if a["candidate"]["programid"] == 1]
    private = [a["_id"] for a in window if a["candidate"]["programid"] != 1]
    assert public and private
    body = {"survey": "ztf", "permissions": {"ZTF": [1]}, "pipeline": PIPELINE,
            "start_jd": first, "end_jd": first + 7.0 - 1e-6, "object_ids": [MIXED]}
    with api_server.client("public") as client:
        passed = envelope(client.post("/filters/test", json=body))
        report = envelope(client.post("/filters/test", json={
            **body, "explain": True, "trace": [a["_id"] for a in window]}))
    assert report["alerts"] == len(public) and report["passed"] == len(passed)
    assert 0 < len(passed) < len(public)  # some pass, some are dropped and explained
    assert [(s["name"], s["in"]) for s in report["stages"]] == [
        ("$match", len(public)), ("$project", report["stages"][0]["out"])]
    for candid in private:  # another programid: as if it did not exist
        assert report["candids"][str(candid)]["evaluated"] is False
    for alert in public:
        trace = report["candids"][str(alert["_id"])]
        assert trace["passed"] == (alert["_id"] in {o["_id"] for o in passed})
        if not trace["passed"]:
            values = trace["condition"]["values"]
            for path, value in values.items():
                assert alert["candidate"][path.split(".")[1]] == value
