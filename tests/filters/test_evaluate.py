"""Evaluation helpers: tracing outputs to alerts, errors set aside, copies run once."""

from __future__ import annotations

import math

from boom_flow.filters.active import build_active_filter, keep_alert_id
from boom_flow.filters.documents import FilterDocuments
from boom_flow.filters.evaluate import (
    annotations_json,
    evaluate,
    photometry,
    record_rights,
    run_tolerant,
)
from tests.filters.helpers import active
from tests.storage.helpers import candid, ztf_batch

KEEP = {"$project": {"objectId": 1}}


def test_keep_alert_id_removes_id_exclusions_and_spots_computed_ids() -> None:
    match = {"$match": {"a": 1}}
    assert keep_alert_id([match, {"$project": {"_id": 0, "objectId": 1}}]) == (
        [match, KEEP], True, False)
    assert keep_alert_id([match, {"$project": {"_id": 0}}, {"$unset": ["_id", "x"]}, KEEP]) \
        == ([match, {"$unset": ["x"]}, KEEP], True, False)
    assert keep_alert_id([match, {"$unset": "_id"}, KEEP]) == ([match, KEEP], True, False)
    assert keep_alert_id([match, {"$set": {"_id": "$objectId"}}, KEEP])[2] is True
    assert keep_alert_id([match, {"$project": {"_id": "$objectId", "objectId": 1}}])[2] is True
    assert keep_alert_id([match, {"$project": {"_id": 1, "objectId": 1}}]) == (
        [match, {"$project": {"_id": 1, "objectId": 1}}], False, False)


def test_failing_documents_are_set_aside_and_the_others_evaluated() -> None:
    batch = ztf_batch([(0, j) for j in range(9)])
    _, docs = FilterDocuments.from_batch(batch).documents((1, 2))
    # Fails ($size of a number) where ndethist (= epoch + 1) is 3, 6 or 9.
    fragile = active("fragile", [
        {"$match": {"$expr": {"$gte": [{"$size": {"$cond": [
            {"$eq": [{"$mod": ["$candidate.ndethist", 3]}, 0]}, "$candidate.ndethist", []]}},
            0]}}}, KEEP])
    outputs, failures = run_tolerant(fragile, docs)
    assert [p for p, _ in failures] == [2, 5, 8]
    assert all("$size" in reason for _, reason in failures)
    assert [p for p, _ in outputs] == [0, 1, 3, 4, 6, 7]
    assert [o["_id"] for _, o in outputs] == [candid(0, j) for j in (0, 1, 3, 4, 6, 7)]
    computed = active("computed", [{"$match": {"candidate.fid": 1}},
                                   {"$set": {"_id": "$objectId"}}, KEEP])
    traced, _ = run_tolerant(computed, docs)
    assert [p for p, _ in traced] == [0, 2, 4, 6, 8]  # one by one: still traced
    assert traced[0][1]["_id"] == batch.alerts["objectId"].iloc[0]


def test_copies_of_a_pipeline_are_evaluated_once_and_each_gets_its_result() -> None:
    documents = FilterDocuments.from_batch(ztf_batch([(1, 0), (1, 1)]))
    pipeline = [{"$match": {"candidate.fid": 2}}, KEEP]
    copies = [active(f"copy{i}", pipeline) for i in range(3)]
    assert len({c.signature for c in copies}) == 1
    runs = []
    for copy in copies:
        original = copy.compiled.run
        object.__setattr__(copy.compiled, "run",
                           lambda docs, original=original: runs.append(1) or original(docs))
    evaluation = evaluate(documents, copies, now_ms=5)
    assert len(runs) == 1
    assert [p["filter_id"] for p in evaluation.passed[1]] == ["copy0", "copy1", "copy2"]
    assert 0 not in evaluation.passed


def test_result_rights_annotations_and_photometry() -> None:
    passes = [{"programids": (1, 2)}, {"programids": (1,)}, {"programids": None}]
    assert record_rights(passes) == (1,)
    assert record_rights([{"programids": None}]) is None
    assert annotations_json({"x": math.nan, "y": [1, math.inf], "z": b"raw"}) == \
        '{"x":null,"y":[1,null],"z":"b\'raw\'"}'
    document = {"prv_candidates": [{"jd": 2.0, "psfFlux": 10.0, "psfFluxErr": 1.0,
                                    "band": "g", "programid": 1, "ra": 1.0, "dec": 2.0},
                                   {"jd": None}],
                "fp_hists": [{"jd": 1.0, "psfFlux": math.nan, "band": "r", "programid": 2}]}
    assert photometry(document, "ZTF") == [
        {"jd": 1.0, "flux": None, "flux_err": None, "band": "r", "origin": "forced",
         "programid": 2, "survey": "ZTF", "ra": None, "dec": None},
        {"jd": 2.0, "flux": 10.0, "flux_err": 1.0, "band": "g", "origin": "alert",
         "programid": 1, "survey": "ZTF", "ra": 1.0, "dec": 2.0}]


def test_lsst_filters_see_the_ztf_aliases_seen_in_their_owners_programids() -> None:
    """An alias may name a ZTF object seen only in programids 2/3: each filter keeps the
    aliases its owner's rights reach (the batch's one visibility read), and none when
    that read did not happen."""
    alerts = [{"_id": 9_000_001, "objectId": 9_001, "candidate": {"jd": 2460100.5}}]
    aux = [{"_id": 9_001, "aliases": {"ZTF": ["ZTF24public", "ZTF24private", "ZTF24gone"],
                                      "DECAM": ["D1"]}}]
    pipeline = [{"$match": {"objectId": 9_001}},
                {"$project": {"objectId": 1, "aliases": 1}}]

    def seen(rights: list[int], owner: dict | None, read: bool) -> dict:
        documents = FilterDocuments.from_archive("LSST", alerts, aux)
        assert documents.alias_ids() == ["ZTF24public", "ZTF24private", "ZTF24gone"]
        if read:
            documents.alias_programids = {"ZTF24public": frozenset({1, 2}),
                                          "ZTF24private": frozenset({2})}
        lsst_filter = build_active_filter({
            "_id": "f", "name": "aliases", "survey": "LSST", "user_id": "u",
            "permissions": {"ZTF": rights}, "active_fid": "v",
            "fv": [{"fid": "v", "pipeline": pipeline}]}, owner=owner)
        (passed,) = evaluate(documents, [lsst_filter], now_ms=0).passed.values()
        return passed[0]["output"]["aliases"]

    assert seen([1], None, True) == {"ZTF": ["ZTF24public"], "DECAM": ["D1"]}
    assert seen([2], None, True) == {"ZTF": ["ZTF24public", "ZTF24private"], "DECAM": ["D1"]}
    assert seen([3], None, True) == {"DECAM": ["D1"]}
    # The owner's rights decide, not the filter's (the API's view is the user's).
    assert seen([], {"permissions": {"ZTF": [1, 2]}}, True)["ZTF"] == [
        "ZTF24public", "ZTF24private"]
    everything = {"ZTF": ["ZTF24public", "ZTF24private", "ZTF24gone"], "DECAM": ["D1"]}
    assert seen([1], {"is_admin": True}, False) == everything
    assert seen([1, 2, 3], None, False) == everything
    assert seen([1], None, False) == {"DECAM": ["D1"]}  # nothing read: nothing shown


def test_batch_stages_in_the_filter_stage_report_each_output_for_its_alert() -> None:
    from boom_flow.filters.evaluate import RESULTS
    from boom_flow.stages.filter import filter_batch

    batch = ztf_batch([(obj, epoch) for epoch in range(3) for obj in range(4)])
    brightest = active("brightest", [{"$match": {"candidate.magpsf": {"$lt": 99}}},
                                     {"$sort": {"candidate.magpsf": 1}}, {"$limit": 1},
                                     {"$project": {"_id": 0, "objectId": 1}}])
    per_object = active("per_object", [{"$match": {"candidate.magpsf": {"$lt": 99}}},
                                       {"$group": {"_id": "$objectId", "n": {"$sum": 1}}},
                                       {"$project": {"objectId": "$_id", "annotations.n": "$n"}}])
    out = filter_batch(batch, [brightest, per_object]).enrichments[RESULTS].tolist()
    passed = {name: [row for row, result in enumerate(out) if result and any(
        f["filter_id"] == name for f in result["filters"])] for name in ("brightest",
                                                                         "per_object")}
    magnitudes = batch.candidates["magpsf"].tolist()
    assert passed["brightest"] == [magnitudes.index(min(magnitudes))]
    # one result per object, for its last alert of the batch, counting its alerts
    object_ids = batch.alerts["objectId"].tolist()
    last = {object_id: row for row, object_id in enumerate(object_ids)}
    assert passed["per_object"] == sorted(last.values())
    for row in passed["per_object"]:
        (result,) = [f for f in out[row]["filters"] if f["filter_id"] == "per_object"]
        assert result["annotations"] == {"n": object_ids.count(object_ids[row])}
