"""Data rights (``boom_flow.api.rights``) against the real MongoDB-compatible server.

A small hand-made ZTF archive: three objects whose alerts and history points carry
programids 1, 2 and 3. Every way of reading it (find and count on each collection,
pipelines with each joining stage, nested, from ZTF and non-ZTF collections) is run
through the user's views and checked with the leak detector; full rights see all.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database

from boom_flow.api import archive
from boom_flow.api.errors import ApiError
from boom_flow.api.guards import validate_pipeline
from boom_flow.api.rights import Rights, restrict_filter, scope_pipeline, view_stages
from tests.api.leaks import assert_no_leak, hidden_values

pytestmark = pytest.mark.services

#: objectId -> programid of each of its three alerts (and of the points they carry).
OBJECTS = {"ZTF20public": [1, 1, 2], "ZTF20mixed": [2, 1, 3], "ZTF20secret": [2, 3, 3]}
PUBLIC = Rights(frozenset({1}))
PARTNER = Rights(frozenset({1, 2}))
NOTHING = Rights(frozenset())
FULL = Rights(None)


def candid(k: int, j: int) -> int:
    return 10**18 + 1000 * k + j


def _point(k: int, j: int, programid: int) -> dict[str, Any]:
    return {"jd": 2460000.0 + j, "candid": candid(k, j), "programid": programid,
            "magpsf": 18.0 + j}


def _build(db: Database) -> None:
    alerts, aux, cutouts, matches = [], [], [], []
    for k, (oid, programids) in enumerate(OBJECTS.items()):
        ra, dec = 10.0 + k * 1e-4, 20.0
        place = {"radec_geojson": {"type": "Point", "coordinates": [ra - 180, dec]}}
        for j, programid in enumerate(programids):
            alerts.append({"_id": candid(k, j), "objectId": oid, "coordinates": place,
                           "candidate": {**_point(k, j, programid), "ra": ra, "dec": dec}})
            cutouts.append({"_id": candid(k, j), "cutoutScience": b"stamp"})
        points = [_point(k, j, p) for j, p in enumerate(programids)]
        aux.append({"_id": oid, "coordinates": place, "prv_candidates": points,
                    "prv_nondetections": [{"jd": 2459999.0, "programid": programids[-1]}],
                    "fp_hists": [{**p, "candid": None, "forcediffimflux": 1.0} for p in points]})
        matches.append({"_id": k, "objectId": oid, "name": f"star{k}", "coordinates": place})
    db.ZTF_alerts.insert_many(alerts)
    db.ZTF_alerts.create_index([("coordinates.radec_geojson", "2dsphere")])
    db.ZTF_alerts_aux.insert_many(aux)
    db.ZTF_alerts_cutouts.insert_many(cutouts)
    db.ZTF_alerts_rejected.insert_one({"_id": "x", "data": b"raw", "reason": "test"})
    db.catalog.insert_many(matches)
    db.LSST_alerts_aux.insert_one({"_id": 1, "aliases": {"ZTF": list(OBJECTS)}})


@pytest.fixture
def db(mongo_db: Database) -> Database:
    _build(mongo_db)
    return mongo_db


def hidden(rights: Rights) -> set[Any]:
    """Candids a user may not see."""
    return {candid(k, j) for k, programids in enumerate(OBJECTS.values())
            for j, p in enumerate(programids) if p not in rights.programids}


def visible_objects(rights: Rights) -> set[str]:
    return {oid for oid, programids in OBJECTS.items() if set(programids) & set(rights.programids)}


def run(db: Database, collection: str, pipeline: list[Any], rights: Rights) -> list[Any]:
    validate_pipeline(pipeline)
    return list(db[collection].aggregate(scope_pipeline(pipeline, collection, rights)))


@pytest.mark.parametrize("rights", [PUBLIC, PARTNER, NOTHING], ids=["public", "partner", "none"])
@pytest.mark.parametrize("collection", ["ZTF_alerts", "ZTF_alerts_aux", "ZTF_alerts_cutouts"])
def test_find_and_count_see_only_permitted_documents_and_points(
        db: Database, rights: Rights, collection: str) -> None:
    found = list(archive.find(db, collection, rights, {}))
    assert_no_leak(found, rights.programids, hidden(rights))
    assert archive.count(db, collection, rights, {}) == len(found)
    assert archive.estimated_count(db, collection, rights) == len(found)
    everything = list(archive.find(db, collection, FULL, {}))
    assert hidden_values(everything, rights.programids, hidden(rights))  # the detector bites
    if collection == "ZTF_alerts":
        expected = {a["_id"] for a in everything if a["candidate"]["programid"] in rights.ztf}
        assert {a["_id"] for a in found} == expected
    if collection == "ZTF_alerts_aux":  # the objects seen, with every visible point
        assert {doc["_id"] for doc in found} == visible_objects(rights)
        visible = {p["candid"] for doc in everything for p in doc["prv_candidates"]
                   if p["programid"] in rights.ztf}
        assert {p["candid"] for doc in found for p in doc["prv_candidates"]} == visible


def test_a_filter_cannot_probe_hidden_history_points(db: Database) -> None:
    probes = [{"prv_candidates.programid": 2}, {"fp_hists.programid": {"$gt": 1}},
              {"prv_candidates": {"$elemMatch": {"programid": 3, "magpsf": {"$gt": 0}}}},
              {"$expr": {"$gt": [{"$size": "$prv_candidates"}, 2]}},
              {"prv_nondetections.programid": {"$in": [2, 3]}}]
    for probe in probes:
        assert list(archive.find(db, "ZTF_alerts_aux", PUBLIC, probe)) == [], probe
        assert archive.count(db, "ZTF_alerts_aux", PUBLIC, probe) == 0
        assert archive.count(db, "ZTF_alerts_aux", FULL, probe) > 0  # it would match
    for probe in [{"candidate.programid": 2}, {"candidate.programid": {"$ne": 1}}]:
        assert archive.count(db, "ZTF_alerts", PUBLIC, probe) == 0


def test_restrict_filter_cannot_be_overridden_by_the_same_key() -> None:
    condition = {"candidate.programid": {"$in": [1]}}
    merged = restrict_filter({"candidate.programid": 2}, condition)
    assert merged == {"$and": [{"candidate.programid": 2}, condition]}
    assert restrict_filter({"objectId": "x"}, condition) == {"objectId": "x", **condition}


JOINS: dict[str, tuple[str, list[Any]]] = {
    "lookup into alerts": ("catalog", [{"$lookup": {
        "from": "ZTF_alerts", "localField": "objectId", "foreignField": "objectId",
        "as": "alerts"}}]),
    "lookup into aux, pipeline form": ("catalog", [{"$lookup": {
        "from": "ZTF_alerts_aux", "let": {"o": "$objectId"},
        "pipeline": [{"$match": {"$expr": {"$eq": ["$_id", "$$o"]}}}], "as": "aux"}}]),
    "lookup into aux, both forms": ("catalog", [{"$lookup": {
        "from": "ZTF_alerts_aux", "localField": "objectId", "foreignField": "_id",
        "pipeline": [{"$project": {"prv_candidates": 1, "fp_hists": 1}}], "as": "aux"}}]),
    "lookup into cutouts": ("ZTF_alerts_aux", [{"$lookup": {
        "from": "ZTF_alerts_cutouts", "localField": "prv_candidates.candid",
        "foreignField": "_id", "as": "stamps"}}]),
    "lookup probing hidden points": ("catalog", [
        {"$lookup": {"from": "ZTF_alerts_aux", "localField": "objectId", "foreignField": "_id",
                     "as": "aux"}},
        {"$match": {"aux.prv_candidates.programid": 3}}]),
    "nested lookup": ("catalog", [{"$lookup": {
        "from": "ZTF_alerts_aux", "let": {"o": "$objectId"}, "as": "aux", "pipeline": [
            {"$match": {"$expr": {"$eq": ["$_id", "$$o"]}}},
            {"$lookup": {"from": "ZTF_alerts", "localField": "_id", "foreignField": "objectId",
                         "as": "alerts"}}]}}]),
    "unionWith by name": ("catalog", [{"$unionWith": "ZTF_alerts"}]),
    "unionWith aux with pipeline": ("catalog", [{"$unionWith": {
        "coll": "ZTF_alerts_aux", "pipeline": [{"$project": {"prv_candidates": 1}}]}}]),
    "unionWith cutouts": ("ZTF_alerts", [{"$unionWith": {"coll": "ZTF_alerts_cutouts"}}]),
    "facet with a lookup": ("catalog", [{"$facet": {"joined": [{"$lookup": {
        "from": "ZTF_alerts", "localField": "objectId", "foreignField": "objectId",
        "as": "alerts"}}], "count": [{"$count": "n"}]}}]),
    "graphLookup into a catalog": ("catalog", [{"$graphLookup": {
        "from": "catalog", "startWith": "$objectId", "connectFromField": "objectId",
        "connectToField": "objectId", "as": "same"}}, {"$lookup": {
            "from": "ZTF_alerts", "localField": "objectId", "foreignField": "objectId",
            "as": "alerts"}}]),
    "aux from aux, group of points": ("ZTF_alerts_aux", [
        {"$unwind": "$prv_candidates"},
        {"$group": {"_id": "$prv_candidates.programid", "ids": {"$push": "$prv_candidates"}}}]),
    "geoNear on alerts": ("ZTF_alerts", [{"$geoNear": {
        "near": {"type": "Point", "coordinates": [-170.0, 20.0]}, "distanceField": "d",
        "spherical": True, "key": "coordinates.radec_geojson"}}]),
    "replaceRoot to candidate": ("ZTF_alerts", [{"$replaceRoot": {"newRoot": "$candidate"}}]),
}


@pytest.mark.parametrize("name", list(JOINS))
def test_pipelines_and_joins_never_leak(db: Database, name: str) -> None:
    collection, pipeline = JOINS[name]
    for rights in (PUBLIC, PARTNER, NOTHING):
        assert_no_leak(run(db, collection, pipeline, rights), rights.programids, hidden(rights))
    unrestricted = run(db, collection, pipeline, FULL)
    assert unrestricted
    if name != "geoNear on alerts":  # a geoNear's output starts with the nearest only
        assert hidden_values(unrestricted, PUBLIC.programids, hidden(PUBLIC))


def test_public_rows_still_join(db: Database) -> None:
    rows = run(db, "catalog", JOINS["lookup into alerts"][1], PUBLIC)
    joined = {row["objectId"]: {a["_id"] for a in row["alerts"]} for row in rows}
    assert joined == {"ZTF20public": {candid(0, 0), candid(0, 1)},
                      "ZTF20mixed": {candid(1, 1)}, "ZTF20secret": set()}


@pytest.mark.parametrize(("collection", "pipeline", "status"), [
    ("catalog", [{"$graphLookup": {"from": "ZTF_alerts", "startWith": "$objectId",
                                   "connectFromField": "objectId",
                                   "connectToField": "objectId", "as": "g"}}], 403),
    ("catalog", [{"$graphLookup": {"from": "ZTF_alerts_aux", "startWith": "$objectId",
                                   "connectFromField": "_id", "connectToField": "_id",
                                   "as": "g"}}], 403),
    ("catalog", [{"$lookup": {"from": "ZTF_alerts_rejected", "localField": "x",
                              "foreignField": "_id", "as": "r"}}], 404),
    ("catalog", [{"$unionWith": "ZTF_alerts_rejected"}], 404),
    ("ZTF_alerts_aux", [{"$geoNear": {"near": {"type": "Point", "coordinates": [0, 0]},
                                      "distanceField": "d"}}], 400),
    ("catalog", [{"$facet": {"x": [{"$unionWith": {"coll": "ZTF_alerts_rejected"}}]}}], 404),
])
def test_what_cannot_be_trimmed_is_refused(db: Database, collection: str,
                                           pipeline: list[Any], status: int) -> None:
    with pytest.raises(ApiError) as raised:
        run(db, collection, pipeline, PUBLIC)
    assert raised.value.status == status
    if status != 400:  # what a restricted user is refused, full rights may do
        assert isinstance(run(db, collection, pipeline, FULL), list)


@pytest.mark.parametrize("rights", [PUBLIC, FULL])
def test_protected_collections_are_unreachable_by_anyone(rights: Rights) -> None:
    for target in ("users", "filters", "system.views"):
        for pipeline in ([{"$lookup": {"from": target, "localField": "a", "foreignField": "b",
                                       "as": "x"}}],
                         [{"$unionWith": target}],
                         [{"$facet": {"f": [{"$graphLookup": {
                             "from": target, "startWith": "$a", "connectFromField": "a",
                             "connectToField": "b", "as": "x"}}]}}]):
            with pytest.raises(ApiError) as raised:
                validate_pipeline(pipeline)
            assert raised.value.status == 404


def test_readable_collections(db: Database) -> None:
    assert archive.readable_catalog(db, "ZTF_alerts", PUBLIC) == "ZTF_alerts"
    assert archive.readable_catalog(db, "ZTF_alerts_rejected", FULL) == "ZTF_alerts_rejected"
    for name, rights in [("ZTF_alerts_rejected", PUBLIC), ("users", FULL), ("nope", FULL),
                         ("system.profile", FULL)]:
        with pytest.raises(ApiError) as raised:
            archive.readable_catalog(db, name, rights)
        assert raised.value.status == 404
        assert name in raised.value.message


def test_rights_of_users() -> None:
    assert Rights.of_user({"is_admin": True}).ztf is None
    assert Rights.of_user({"permissions": {"ZTF": [1, 2, 3]}}).ztf is None
    assert Rights.of_user({"permissions": {"ZTF": [2, 1]}}).programids == [1, 2]
    assert Rights.of_user({"permissions": {}}).programids == []
    assert Rights.of_user({}).restricts("ZTF_alerts")
    assert not Rights.of_user({}).restricts("LSST_alerts")
    assert not Rights.of_user({"is_admin": True}).restricts("ZTF_alerts")


@pytest.mark.parametrize(("query", "safe"), [
    ({"_id": "ZTF20public"}, True),
    ({"coordinates.radec_geojson": {"$geoWithin": {"$centerSphere": [[0, 0], 1]}}}, True),
    ({"$or": [{"_id": "a"}, {"cross_matches.GCVS": {"$exists": True}}], "$comment": "x"}, True),
    ({"prv_candidates.programid": 2}, False),
    ({"fp_hists": {"$size": 3}}, False),
    ({"$and": [{"_id": "a"}, {"prv_nondetections.jd": {"$gt": 0}}]}, False),
    ({"$expr": {"$gt": [{"$size": "$prv_candidates"}, 2]}}, False),
    ({"$nor": "not a list"}, False),
    ({"$expr": {"$eq": ["$_id", "$$o"]}}, True),
    ({"$expr": {"$in": ["$$o", "$aliases.ZTF"]}}, True),
    ({"$expr": {"$gt": [{"$size": "$$ROOT.prv_candidates"}, 0]}}, False),
    ({"$expr": {"$gt": [{"$size": {"$getField": "fp_hists"}}, 0]}}, False),
    ({"$expr": {"$eq": ["$$CURRENT", None]}}, False),
    ({"$expr": {"$gt": ["$prv_candidates.magpsf", 0]}}, False),
])
def test_which_aux_filters_may_run_before_the_trimming(query: dict[str, Any], safe: bool) -> None:
    from boom_flow.api.rights import filter_first_is_safe

    assert filter_first_is_safe("ZTF_alerts_aux", query) is safe
    assert filter_first_is_safe("ZTF_alerts_cutouts", query) is True


def test_filter_first_gives_the_same_answers(db: Database) -> None:
    for query in ({"_id": "ZTF20mixed"}, {"_id": {"$in": ["ZTF20secret", "ZTF20public"]}}):
        for rights in (PUBLIC, PARTNER, NOTHING):
            late = list(db.ZTF_alerts_aux.aggregate(
                [*view_stages("ZTF_alerts_aux", rights), {"$match": query}]))
            assert list(archive.find(db, "ZTF_alerts_aux", rights, query)) == late
            assert_no_leak(late, rights.programids, hidden(rights))
            cut = list(db.ZTF_alerts_cutouts.aggregate(
                [*view_stages("ZTF_alerts_cutouts", rights), {"$match": {}}]))
            assert list(archive.find(db, "ZTF_alerts_cutouts", rights, {})) == cut


def _alias_holders(db: Database) -> None:
    """Beside ``_build``'s LSST object (aliases: all three ZTF objects): one whose only
    alias is the secret ZTF object, and one without aliases."""
    place = {"radec_geojson": {"type": "Point", "coordinates": [-170.0, 20.0]}}
    db.LSST_alerts_aux.insert_many([
        {"_id": 2, "coordinates": place, "aliases": {"ZTF": ["ZTF20secret"]}},
        {"_id": 3, "coordinates": place}])
    db.LSST_alerts_aux.create_index([("coordinates.radec_geojson", "2dsphere")])


@pytest.mark.parametrize("rights", [PUBLIC, PARTNER, NOTHING], ids=["public", "partner", "none"])
def test_lsst_aliases_name_only_the_ztf_objects_the_user_may_see(
        db: Database, rights: Rights) -> None:
    _alias_holders(db)
    seen = visible_objects(rights)
    hidden_objects = set(OBJECTS) - seen
    lsst = "LSST_alerts_aux"
    assert hidden_values(list(archive.find(db, lsst, FULL, {})), [], set(OBJECTS))  # it bites
    found = {doc["_id"]: doc for doc in archive.find(db, lsst, rights, {})}
    assert set(found) == {1, 2, 3}  # every LSST object stays, only aliases are trimmed
    assert found[1].get("aliases") == ({"ZTF": [o for o in OBJECTS if o in seen]} if seen
                                       else None)
    assert found[2].get("aliases") == ({"ZTF": ["ZTF20secret"]}
                                       if "ZTF20secret" in seen else None)
    assert archive.count(db, lsst, rights, {}) == archive.estimated_count(db, lsst, rights) == 3
    for oid in OBJECTS:  # probing an alias answers as if a hidden object were never there
        expected = (1 + (oid == "ZTF20secret")) if oid in seen else 0
        for probe in ({"aliases.ZTF": oid},
                      {"$expr": {"$in": [oid, {"$ifNull": ["$aliases.ZTF", []]}]}}):
            assert archive.count(db, lsst, rights, probe) == expected, (oid, probe)
            assert len(list(archive.find(db, lsst, rights, probe))) == expected
    pipelines = [
        (lsst, [{"$unwind": {"path": "$aliases.ZTF", "preserveNullAndEmptyArrays": True}},
                {"$group": {"_id": None, "ids": {"$push": "$aliases.ZTF"}}}]),
        (lsst, [{"$geoNear": {"near": {"type": "Point", "coordinates": [-170.0, 20.0]},
                              "distanceField": "d", "spherical": True,
                              "key": "coordinates.radec_geojson"}}]),
        ("catalog", [{"$limit": 1}, {"$project": {"_id": 1}},  # a catalog row names them
                     {"$lookup": {"from": lsst, "pipeline": [], "as": "lsst"}}]),
        ("catalog", [{"$match": {"_id": -1}}, {"$unionWith": lsst}]),
    ]
    for collection, pipeline in pipelines:
        answer = run(db, collection, pipeline, rights)
        assert answer, pipeline
        assert_no_leak(answer, rights.programids, hidden_objects)
        assert hidden_values(run(db, collection, pipeline, FULL), [], {"ZTF20secret"})
