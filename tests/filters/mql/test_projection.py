"""``$project``, ``$addFields``/``$set``, ``$unset`` and multi-stage pipelines: parity."""

from __future__ import annotations

from typing import Any

import pytest

from tests.filters.mql.conftest import Parity

DOCS: list[dict[str, Any]] = [
    {"_id": 1, "objectId": "A", "candidate": {"jd": 1.5, "magpsf": 18.0, "band": "g"},
     "prv_candidates": [{"jd": 1.0, "magpsf": 19, "band": "g", "x": 1},
                        {"jd": 1.2, "magpsf": 18.5, "band": "r"}], "annotations": 5},
    {"_id": 2, "objectId": "B", "candidate": {"jd": 2.5},
     "prv_candidates": [1, {"jd": 2}, [{"jd": 3}, 4]], "cross_matches": {}},
    {"_id": 3, "objectId": "C"},
    {"_id": 4, "objectId": "D", "candidate": 7, "prv_candidates": []},
    {"_id": 5, "objectId": "E", "candidate": [{"jd": 1}, {"magpsf": 2}], "prv_candidates": None},
]

PROJECTIONS: list[dict[str, Any]] = [
    {"objectId": 1}, {"objectId": 1, "_id": 0}, {"_id": 0}, {"candidate": 0},
    {"candidate.jd": 1}, {"prv_candidates.jd": 1, "prv_candidates.band": 1},
    {"objectId": 1, "t": "$annotations"}, {"t": "$annotations", "objectId": 1},
    {"annotations.x": "$objectId", "objectId": 1},
    {"objectId": 1, "r": "$$REMOVE"},
    {"objectId": 1, "r": {"$cond": [{"$eq": ["$objectId", "A"]}, "$$REMOVE", "kept"]}},
    {"objectId": {"$ifNull": ["$annotations", "$objectId"]}}, {"objectId": 1, "lit": "text"},
    {"objectId": 1, "arr": [1, {"$ifNull": ["$annotations", "$objectId"]}, "$nothing"]},
    {"objectId": 1, "num": 1},
    {"objectId": True, "candidate.band": 1, "prv_candidates.x": 1},
    {"_id": "$objectId", "x": 1}, {"_id": 0, "missing": 1},
]

ADDITIONS: list[dict[str, Any]] = [
    {"x": 1},
    {"objectId": "$$REMOVE"}, {"x": "$nothing"}, {"objectId": {"$concat": ["$objectId", "!"]}},
    {"a": "$objectId", "b": "$a"},
    {"prv_candidates": {"$size": {"$ifNull": ["$prv_candidates", []]}}},
]


@pytest.mark.parametrize("spec", PROJECTIONS, ids=[repr(p) for p in PROJECTIONS])
def test_project(parity: Parity, spec: dict[str, Any]) -> None:
    parity.check(DOCS, [{"$project": spec}])


@pytest.mark.parametrize("spec", ADDITIONS, ids=[repr(p) for p in ADDITIONS])
@pytest.mark.parametrize("stage", ["$addFields", "$set"])
def test_add_fields(parity: Parity, stage: str, spec: dict[str, Any]) -> None:
    parity.check(DOCS, [{stage: spec}])


@pytest.mark.parametrize("spec", ["candidate", ["candidate.band", "annotations"], ["_id"]])
def test_unset(parity: Parity, spec: Any) -> None:
    parity.check(DOCS, [{"$unset": spec}])


def test_stages_chain(parity: Parity) -> None:
    pipeline = [
        {"$addFields": {"t": "$candidate.jd"}},
        {"$match": {"t": {"$gt": 1}}},
        {"$project": {"objectId": 1, "t": 1, "n": {"$size": {"$ifNull": ["$prv_candidates",
                                                                           []]}}}},
        {"$match": {"n": {"$gte": 1}}},
        {"$set": {"annotations.n": "$n"}},
        {"$unset": "n"},
    ]
    out = parity.check(DOCS, pipeline)
    assert [doc["objectId"] for doc in out] == ["A", "B"]


REFUSED: list[dict[str, Any]] = [
    {"$project": {"a": 1, "b": 0}},
    {"$project": {}}, {"$project": {"a": {"$noSuchOperator": 1}}},
    {"$match": {"a": {"$noSuchOperator": 1}}}, {"$project": {"a": "$$undefinedVariable"}},
    {"$project": {"a": {"$size": [1, 2]}}}, {"$match": {"$and": []}},
]


@pytest.mark.parametrize("stage", REFUSED, ids=[repr(p) for p in REFUSED])
def test_refused_by_both(parity: Parity, stage: dict[str, Any]) -> None:
    error = parity.check_refused(DOCS, [stage])
    assert error.path.startswith("pipeline[0].")


@pytest.mark.parametrize("stage", [
    {"$replaceRoot": {"newRoot": {"id": "$objectId", "c": {"$ifNull": ["$candidate", {}]}}}},
    {"$replaceWith": {"$mergeObjects": [{"n": 1}, {"o": "$objectId"}]}},
    {"$replaceWith": "$candidate"},  # not an object for most documents: an error each
])
def test_replace_root(parity: Parity, stage: dict[str, Any]) -> None:
    parity.check(DOCS, [stage])
