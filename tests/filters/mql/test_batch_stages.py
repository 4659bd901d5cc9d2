"""``$sort``, ``$limit`` and ``$group`` in filters: parity with the server (in the
pipeline's order), and in the filter stage each output reported for the alert it stems
from."""

from __future__ import annotations

from typing import Any

import pytest

from boom_flow.filters.active import build_active_filter
from boom_flow.filters.evaluate import run_tolerant
from boom_flow.filters.mql import compile_pipeline, compile_stages
from boom_flow.filters.mql.explain import Explainer
from tests.filters.helpers import filter_document
from tests.filters.mql.conftest import Parity, canonical
from tests.filters.mql.corpus import CORPUS, NUMBERS

GROUP_ALL = {"n": {"$sum": 1}, "s": {"$sum": "$x"}, "avg": {"$avg": "$x"},
             "mx": {"$max": "$x"}, "mn": {"$min": "$x"}, "f": {"$first": "$_id"},
             "l": {"$last": "$_id"}, "ids": {"$push": "$_id"}, "ys": {"$addToSet": "$y"},
             "c": {"$count": {}}}


@pytest.mark.parametrize(("docs", "pipeline"), [
    (NUMBERS, [{"$sort": {"x": 1, "_id": 1}}]),
    (NUMBERS, [{"$sort": {"x": -1, "_id": -1}}, {"$limit": 4}]),
    (CORPUS, [{"$sort": {"a": 1, "_id": 1}}]),  # mixed types, arrays, null, missing
    (CORPUS, [{"$sort": {"a": -1, "_id": 1}}]),
    (NUMBERS, [{"$group": {"_id": {"$gt": ["$y", 1]}, **GROUP_ALL}}, {"$sort": {"_id": 1}}]),
    (CORPUS, [{"$group": {"_id": "$a", "n": {"$sum": 1}}}, {"$sort": {"n": -1, "_id": 1}},
              {"$limit": 3}]),
    (CORPUS, [{"$match": {"b": {"$exists": True}}}, {"$group": {"_id": "$b", "ids": {
        "$push": "$_id"}}}, {"$sort": {"_id": 1}}]),
])
def test_batch_stages_match_the_server(parity: Parity, docs: list[dict[str, Any]],
                                       pipeline: list[dict[str, Any]]) -> None:
    stored = parity.store(docs)
    assert canonical(compile_stages(pipeline).run(stored)) == canonical(
        parity.server(pipeline))


ALERTS = [{"_id": 100 + i, "objectId": f"ZTF{i % 3}", "candidate": {"magpsf": mag}}
          for i, mag in enumerate([18.5, 16.0, 19.5, 15.5, 17.0, 20.0, 16.5])]


def _passing(pipeline: list[dict[str, Any]], docs: list[dict[str, Any]]
             ) -> list[tuple[int, dict[str, Any]]]:
    outputs, failures = run_tolerant(build_active_filter(filter_document("f", pipeline)), docs)
    assert not failures
    return outputs


def test_the_brightest_alerts_of_a_batch_pass_as_themselves() -> None:
    pipeline = [{"$match": {"candidate.magpsf": {"$lt": 19}}},
                {"$sort": {"candidate.magpsf": 1}}, {"$limit": 2},
                {"$project": {"_id": 0, "objectId": 1, "annotations.mag": "$candidate.magpsf"}}]
    outputs = _passing(pipeline, ALERTS)  # by alert, in the batch's order; _id hidden
    assert [(ALERTS[p]["_id"], o) for p, o in outputs] == [
        (101, {"objectId": "ZTF1", "annotations": {"mag": 16.0}}),
        (103, {"objectId": "ZTF0", "annotations": {"mag": 15.5}})]


def test_a_group_is_reported_for_its_last_alert() -> None:
    pipeline = [{"$match": {"candidate.magpsf": {"$lt": 19.8}}},
                {"$group": {"_id": "$objectId", "n": {"$sum": 1},
                            "brightest": {"$min": "$candidate.magpsf"}}},
                {"$match": {"n": {"$gte": 2}}},
                {"$project": {"objectId": "$_id", "annotations.n": "$n",
                              "annotations.brightest": "$brightest"}}]
    compile_pipeline(pipeline)  # a valid filter
    outputs = {ALERTS[p]["_id"]: o for p, o in _passing(pipeline, ALERTS)}
    # ZTF0: 100, 103, 106 -> reported for 106; ZTF1: 101, 104 -> 104;
    # ZTF2: 102 (105 is too faint) alone -> dropped
    assert outputs == {
        106: {"_id": "ZTF0", "objectId": "ZTF0", "annotations": {"n": 3, "brightest": 15.5}},
        104: {"_id": "ZTF1", "objectId": "ZTF1", "annotations": {"n": 2, "brightest": 16.0}}}


def test_explain_follows_alerts_through_batch_stages() -> None:
    pipeline = [{"$match": {"candidate.magpsf": {"$lt": 19}}},
                {"$sort": {"candidate.magpsf": 1}}, {"$limit": 2},
                {"$project": {"objectId": 1}}]
    explainer = Explainer(pipeline, frozenset({101, 106, 105}))
    explainer.add(ALERTS)
    report = explainer.report()
    assert [(s["name"], s["in"], s["out"]) for s in report["stages"]] == [
        ("$match", 7, 5), ("$sort", 5, 5), ("$limit", 5, 2), ("$project", 2, 2)]
    assert report["candids"]["101"]["passed"] is True
    assert report["candids"]["106"]["dropped_at"] == 2
    assert "beyond the first" in report["candids"]["106"]["reason"]
    assert report["candids"]["105"]["condition"]["values"] == {"candidate.magpsf": 20.0}
