"""Loading what the archive knows of a batch's objects, with one query."""

from __future__ import annotations

import pymongo

from boom_flow.core import AlertBatch, table_from_records
from boom_flow.core.history import object_points
from boom_flow.storage.known import load_known


def test_known_history_comes_from_the_aux_documents(mongo_db: pymongo.database.Database) -> None:
    mongo_db.ZTF_alerts_aux.insert_many([
        {"_id": "ZTF1", "prv_candidates": [{"jd": 1.0, "magpsf": 18.0}, {"jd": 2.0}],
         "fp_hists": [{"jd": 0.5, "psfFlux": 3.0}], "cross_matches": {"GCVS": []}},
        {"_id": "ZTF9", "prv_candidates": [{"jd": 7.0}]},
    ])
    alerts = table_from_records([{"_id": 10, "objectId": "ZTF1"}, {"_id": 11, "objectId": "NEW"}])
    empty = table_from_records([])
    batch = load_known(mongo_db, AlertBatch("ZTF", alerts, alerts, empty, empty, empty, empty))
    known = batch.known
    assert known is not None
    assert known.objects["objectId"].tolist() == ["ZTF1"]
    assert known.objects["cross_matches"].tolist() == [{"GCVS": []}]
    detections = object_points(batch, "prv_candidates", ("magpsf",))
    assert detections["jd"].tolist() == [1.0, 2.0]
    assert set(detections["objectId"]) == {"ZTF1"}
    assert object_points(batch, "fp_hists", ("psfFlux",))["psfFlux"].tolist() == [3.0]
    assert len(object_points(batch, "prv_nondetections")) == 0


def test_a_stored_alert_sent_again_with_other_content_is_filtered_as_stored(
        mongo_db: pymongo.database.Database) -> None:
    """Issue 16, defect 8: the archive kept the first version of a candid, yet the filters
    published results for the second. Now the second is marked superseded and the
    filter stage gives it no result; an unchanged redelivery is filtered as before."""
    from dataclasses import replace

    from boom_flow.core import SUPERSEDED
    from boom_flow.filters.evaluate import RESULTS
    from boom_flow.stages.filter import filter_batch
    from boom_flow.storage import write_batch
    from tests.filters.helpers import active
    from tests.storage.helpers import ztf_batch

    epochs = [(20, 0), (21, 0), (22, 0)]
    write_batch(mongo_db, ztf_batch(epochs))
    changed = ztf_batch(epochs)
    magnitudes = changed.candidates["magpsf"].copy()
    magnitudes.iloc[1] = 12.5  # the second packet of alert (21, 0) is much brighter
    changed = replace(changed, candidates=changed.candidates.assign(magpsf=magnitudes))
    batch = load_known(mongo_db, changed)
    assert batch.enrichments[SUPERSEDED].tolist() == [False, True, False]
    keep = {"$project": {"objectId": 1}}
    bright = active("bright", [{"$match": {"candidate.magpsf": {"$lt": 13}}}, keep])
    everything = active("all", [{"$match": {"candidate.magpsf": {"$gt": 0}}}, keep])
    results = filter_batch(batch, [bright, everything], now_ms=1).enrichments[RESULTS].tolist()
    assert results[1] is None  # neither the bright filter nor any other
    assert [p["filter_id"] for p in results[0]["filters"]] == ["all"]
    # Delivered again unchanged: not superseded, filtered (the ledger stops repeats).
    assert not load_known(mongo_db, ztf_batch(epochs)).enrichments[SUPERSEDED].any()
