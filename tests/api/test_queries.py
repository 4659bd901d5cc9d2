"""``/queries``: find, cone_search, count, estimated_count, pipeline over real alerts."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.conftest import Api, envelope, error
from tests.api.data import REAL_OBJECT

pytestmark = [pytest.mark.services, pytest.mark.shared_data]


def post(api: Api, route: str, body: dict[str, Any], user: str = "admin") -> httpx.Response:
    with api.client(user) as client:
        return client.post(f"/queries/{route}", json=body)


def test_find_returns_the_stored_documents_with_exact_int64(api_server: Api) -> None:
    db = api_server.db
    body = {"catalog_name": "ZTF_alerts", "filter": {"objectId": REAL_OBJECT},
            "projection": {"candidate.jd": 1, "candidate.candid": 1, "objectId": 1},
            "sort": {"candidate.jd": -1}, "limit": 10, "skip": 2}
    response = post(api_server, "find", body)
    found = envelope(response)
    expected = list(db.ZTF_alerts.find({"objectId": REAL_OBJECT},
                                       {"candidate.jd": 1, "candidate.candid": 1, "objectId": 1})
                    .sort("candidate.jd", -1).skip(2).limit(10))
    assert found == expected
    assert all(doc["_id"] > 2**53 for doc in found)  # beyond float64: exact in the JSON text
    assert str(expected[0]["_id"]) in response.text


def test_find_without_limit_is_capped_and_a_larger_limit_is_refused(api_server: Api) -> None:
    found = envelope(post(api_server, "find", {"catalog_name": "slow_catalog"}))
    assert len(found) == 500  # api.max_limit in the test server
    assert "limit 501" in error(post(api_server, "find", {"catalog_name": "slow_catalog",
                                                          "limit": 501}), 413)


def test_a_response_over_the_byte_cap_is_refused(api_server: Api) -> None:
    # ~190 alerts: cutouts of ~60 kB each in base64; the test server caps at 8 MB.
    message = error(post(api_server, "find", {"catalog_name": "ZTF_alerts_cutouts"}), 413)
    assert "8000000 bytes" in message
    small = envelope(post(api_server, "find", {"catalog_name": "ZTF_alerts_cutouts", "limit": 3}))
    assert len(small) == 3 and isinstance(small[0]["cutoutScience"], str)  # base64


@pytest.mark.parametrize("name", ["users", "filters", "system.users", "no_such_catalog",
                                  "ZTF_alerts_rejected"])
def test_protected_or_unknown_catalogs_are_404(api_server: Api, name: str) -> None:
    for route, extra in [("find", {}), ("count", {}), ("estimated_count", {}),
                         ("pipeline", {"pipeline": []})]:
        user = "admin" if name != "ZTF_alerts_rejected" else "public"
        message = error(post(api_server, route, {"catalog_name": name, **extra}, user), 404)
        assert message == f"catalog {name!r} not found"


def test_the_rejected_collection_is_readable_by_admins(api_server: Api) -> None:
    assert envelope(post(api_server, "count", {"catalog_name": "ZTF_alerts_rejected"})) == 0


@pytest.mark.parametrize(("route", "body", "operator"), [
    ("find", {"filter": {"$where": "this.a > 1"}}, "$where"),
    ("find", {"filter": {"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}}},
     "$function"),
    ("find", {"projection": {"x": {"$accumulator": {}}}}, "$accumulator"),
    ("count", {"filter": {"$and": [{"a": 1}, {"$where": "1"}]}}, "$where"),
    ("pipeline", {"pipeline": [{"$match": {}}, {"$out": "stolen"}]}, "$out"),
    ("pipeline", {"pipeline": [{"$merge": {"into": "stolen"}}]}, "$merge"),
    ("cone_search", {"object_coordinates": {"a": [1, 2]}, "radius": 1, "unit": "Degrees",
                     "filter": {"$where": "1"}}, "$where"),
])
def test_forbidden_operators_are_refused_anywhere(api_server: Api, route: str,
                                                  body: dict[str, Any], operator: str) -> None:
    message = error(post(api_server, route, {"catalog_name": "ZTF_alerts", **body}), 403)
    assert operator in message
    assert "stolen" not in api_server.db.list_collection_names()


def test_malformed_and_bad_queries(api_server: Api) -> None:
    assert "catalog_name" in error(post(api_server, "find", {"filter": {}}), 422)
    assert "filter" in error(post(api_server, "find", {"catalog_name": "ZTF_alerts",
                                                       "filter": [1, 2]}), 422)
    with api_server.client("admin") as client:
        response = client.post("/queries/find", content=b"{not json",
                               headers={"Content-Type": "application/json"})
    error(response, 422)
    assert "sort" in error(post(api_server, "find", {"catalog_name": "ZTF_alerts",
                                                     "sort": {"candidate.jd": 3}}), 400)
    assert "refused" in error(post(api_server, "find", {"catalog_name": "ZTF_alerts",
                                                        "filter": {"a": {"$nope": 1}}}), 400)
    assert "$collStats" in error(post(api_server, "pipeline", {
        "catalog_name": "ZTF_alerts", "pipeline": [{"$collStats": {}}]}), 403)
    error(post(api_server, "pipeline", {"catalog_name": "ZTF_alerts", "pipeline": [{}]}), 400)


def test_count_and_estimated_count(api_server: Api) -> None:
    db = api_server.db
    total = db.ZTF_alerts.count_documents({})
    public = db.ZTF_alerts.count_documents({"candidate.programid": 1})
    assert 0 < public < total
    assert envelope(post(api_server, "count", {"catalog_name": "ZTF_alerts"})) == total
    assert envelope(post(api_server, "count", {"catalog_name": "ZTF_alerts"}, "public")) == public
    assert envelope(post(api_server, "count", {"catalog_name": "ZTF_alerts"}, "nobody")) == 0
    assert envelope(post(api_server, "count", {
        "catalog_name": "ZTF_alerts", "filter": {"objectId": REAL_OBJECT}})) == 34
    assert envelope(post(api_server, "estimated_count", {"catalog_name": "ZTF_alerts"})) == total
    assert envelope(post(api_server, "estimated_count", {"catalog_name": "ZTF_alerts"},
                         "public")) == public


def test_pipeline_matches_the_database(api_server: Api) -> None:
    pipeline = [{"$match": {"candidate.jd": {"$gt": 0}}},
                {"$group": {"_id": "$objectId", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}]
    found = envelope(post(api_server, "pipeline", {"catalog_name": "ZTF_alerts",
                                                   "pipeline": pipeline}))
    assert found == list(api_server.db.ZTF_alerts.aggregate(pipeline))
    message = error(post(api_server, "pipeline", {"catalog_name": "slow_catalog",
                                                  "pipeline": [{"$match": {}}]}), 413)
    assert "more than 500" in message


def _unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def brute_force(docs: list[dict[str, Any]], ra: float, dec: float,
                radius_arcsec: float) -> list[tuple[Any, float]]:
    """(id, distance) of the documents within the radius, nearest first (vector math,
    independent of the server's formula)."""
    lon_lat = np.array([d["coordinates"]["radec_geojson"]["coordinates"] for d in docs])
    vectors = _unit_vectors(lon_lat[:, 0] + 180.0, lon_lat[:, 1])
    centre = _unit_vectors(np.array([ra]), np.array([dec]))[0]
    angle = np.arctan2(np.linalg.norm(np.cross(vectors, centre), axis=1), vectors @ centre)
    arcsec = np.degrees(angle) * 3600
    inside = [(docs[i]["_id"], float(arcsec[i])) for i in np.flatnonzero(arcsec <= radius_arcsec)]
    return sorted(inside, key=lambda pair: pair[1])


@pytest.mark.parametrize(("user", "programids"), [("admin", [1, 2, 3]), ("public", [1])])
@pytest.mark.parametrize(("radius", "unit", "arcsec"), [
    (5.0, "Arcseconds", 5.0), (1.5, "arcminutes", 90.0), (2.0, "Degrees", 7200.0),
    (0.02, "Radians", 0.02 * 180 / math.pi * 3600)])
def test_cone_search_equals_brute_force(api_server: Api, user: str, programids: list[int],
                                        radius: float, unit: str, arcsec: float) -> None:
    docs = list(api_server.db.ZTF_alerts.find({"candidate.programid": {"$in": programids}},
                                              {"coordinates": 1}))
    assert len(docs) > 100
    centres = {"supernova": docs[0]["coordinates"]["radec_geojson"]["coordinates"],
               "star": docs[-1]["coordinates"]["radec_geojson"]["coordinates"],
               "empty": [0.5 - 180.0, -89.0]}
    positions = {name: [lon + 180.0, lat] for name, (lon, lat) in centres.items()}
    body = {"catalog_name": "ZTF_alerts", "object_coordinates": positions, "radius": radius,
            "unit": unit, "projection": {"objectId": 1}}
    found = envelope(post(api_server, "cone_search", body, user))
    assert set(found) == set(positions)
    for name, (ra, dec) in positions.items():
        expected = brute_force(docs, ra, dec, arcsec)
        got = [(doc["_id"], doc["distance_arcsec"]) for doc in found[name]]
        assert sorted(i for i, _ in got) == sorted(i for i, _ in expected)
        assert [d for _, d in got] == sorted(d for _, d in got)  # nearest first
        assert [d for _, d in got] == pytest.approx([d for _, d in expected], abs=1e-6)
        assert dict(got) == pytest.approx(dict(expected), abs=1e-6)
        assert all(set(doc) == {"_id", "objectId", "distance_arcsec"} for doc in found[name])
    assert found["empty"] == []
    assert found["supernova"]


def test_many_positions_equal_brute_force_and_share_documents(api_server: Api) -> None:
    docs = list(api_server.db.ZTF_alerts.find({}, {"coordinates": 1}))
    positions = {}
    for i, doc in enumerate(docs[:150]):  # more than one query's worth of positions
        lon, lat = doc["coordinates"]["radec_geojson"]["coordinates"]
        positions[f"p{i}"] = [lon + 180.0 + 1e-4, lat - 1e-4]
    body = {"catalog_name": "ZTF_alerts", "object_coordinates": positions, "radius": 20,
            "unit": "Arcseconds", "projection": {"_id": 1}}
    found = envelope(post(api_server, "cone_search", body))
    owners: dict[Any, int] = {}
    for name, (ra, dec) in positions.items():
        expected = brute_force(docs, ra, dec, 20.0)
        assert sorted(d["_id"] for d in found[name]) == sorted(i for i, _ in expected)
        assert [d["distance_arcsec"] for d in found[name]] == pytest.approx(
            [d for _, d in expected], abs=1e-6)
        for doc in found[name]:
            owners[doc["_id"]] = owners.get(doc["_id"], 0) + 1
    assert max(owners.values()) > 1  # one alert in several cones, with its own distances


def test_cone_search_with_a_sort_keeps_the_database_order(api_server: Api) -> None:
    doc = api_server.db.ZTF_alerts.find_one({"objectId": REAL_OBJECT})
    lon, lat = doc["coordinates"]["radec_geojson"]["coordinates"]
    body = {"catalog_name": "ZTF_alerts", "object_coordinates": {"sn": [lon + 180, lat]},
            "radius": 10, "unit": "Arcseconds", "sort": {"candidate.jd": -1}, "limit": 4,
            "skip": 1, "projection": {"candidate.jd": 1}}
    found = envelope(post(api_server, "cone_search", body, "public"))["sn"]
    jds = [d["candidate"]["jd"] for d in found]
    assert len(found) == 4 and jds == sorted(jds, reverse=True)
    assert all(d["distance_arcsec"] < 10 and "coordinates" not in d for d in found)


def test_boom_spellings_of_routes_are_served(api_server: Api) -> None:
    body = {"catalog_name": " ZTF_alerts ", "object_coordinates": {"a": [10.0, 20.0]},
            "radius": 1, "unit": "Degrees"}
    assert envelope(post(api_server, "cone-search", body)) == \
        envelope(post(api_server, "cone_search", body))
    assert envelope(post(api_server, "estimated-count", {"catalog_name": "ZTF_alerts"})) == \
        api_server.db.ZTF_alerts.estimated_document_count()


def test_cone_search_limits_and_errors(api_server: Api) -> None:
    base = {"catalog_name": "ZTF_alerts", "radius": 1, "unit": "Degrees"}
    many = {f"p{i}": [float(i % 360), 0.0] for i in range(10_001)}
    assert "10001 positions" in error(post(api_server, "cone_search",
                                           {**base, "object_coordinates": many}), 413)
    one = {"a": [10.0, 20.0]}
    assert "unit" in error(post(api_server, "cone_search",
                                {**base, "object_coordinates": one, "unit": "parsecs"}), 400)
    assert "object_coordinates.a" in error(post(api_server, "cone_search", {
        **base, "object_coordinates": {"a": [400.0, 0.0]}}), 400)
    error(post(api_server, "cone_search", {**base, "object_coordinates": {"a": [1.0]}}), 422)
    error(post(api_server, "cone_search", {**base, "object_coordinates": one, "radius": -1}),
          422)


def test_near_sphere_filters_pass_through(api_server: Api) -> None:
    doc = api_server.db.ZTF_alerts.find_one({"objectId": REAL_OBJECT})
    point = doc["coordinates"]["radec_geojson"]
    body = {"catalog_name": "ZTF_alerts", "limit": 5, "projection": {"coordinates": 1},
            "filter": {"coordinates.radec_geojson": {"$nearSphere": {
                "$geometry": point, "$maxDistance": 1000.0}}}}  # metres on the Earth: ~32"
    found = envelope(post(api_server, "find", body, "public"))
    assert len(found) == 5
    lon, lat = point["coordinates"]
    distances = [brute_force([d], lon + 180, lat, 1e9)[0][1] for d in found]
    # Nearest first, as the server orders them (its distance formula rounds differently
    # from ours by a few milli-arcseconds at these tiny separations).
    assert all(b >= a - 0.01 for a, b in itertools.pairwise(distances))
    assert max(distances) < 32.5
    assert json.dumps(found)  # plain JSON


@pytest.mark.parametrize(("projection", "expected"), [
    ({"_id": 1}, ({"_id": 1, "coordinates.radec_geojson": 1}, True)),
    ({"_id": 0}, ({"_id": 0}, False)),
    ({"objectId": 1, "_id": 0}, ({"objectId": 1, "_id": 0, "coordinates.radec_geojson": 1},
                                 True)),
    ({"coordinates": 0}, (None, True)),
    ({"coordinates": 1}, ({"coordinates": 1}, False)),
    (None, (None, False)),
])
def test_cone_projection_keeps_the_position(projection: Any, expected: Any) -> None:
    from boom_flow.api.cone import with_position

    assert with_position(projection) == expected


@pytest.mark.parametrize("user", ["public", "partner"])
def test_cone_search_of_objects_is_nearest_first_with_distances_through_the_view(
        api_server: Api, user: str) -> None:
    """The aux collection through a restricted user's view (an aggregation, not a find):
    the same order and distances as brute force over the objects that user may see."""
    programids = {"public": [1], "partner": [1, 2]}[user]
    docs = list(api_server.db.ZTF_alerts_aux.find(
        {"prv_candidates": {"$elemMatch": {"programid": {"$in": programids}}}},
        {"coordinates": 1}))
    sn = next(d for d in docs if d["_id"] == REAL_OBJECT)  # its copies share its place
    lon, lat = sn["coordinates"]["radec_geojson"]["coordinates"]
    centre = [lon + 180.0 + 2e-3, lat - 1e-3]
    body = {"catalog_name": "ZTF_alerts_aux", "object_coordinates": {"c": centre},
            "radius": 1, "unit": "Degrees", "projection": {"_id": 1}}
    found = envelope(post(api_server, "cone_search", body, user))["c"]
    expected = brute_force(docs, centre[0], centre[1], 3600.0)
    assert len(expected) > 1
    distances = [d["distance_arcsec"] for d in found]
    assert distances == sorted(distances)  # nearest first
    assert {d["_id"]: d["distance_arcsec"] for d in found} == pytest.approx(dict(expected),
                                                                            abs=1e-6)
