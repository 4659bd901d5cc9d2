"""Loading what the archive knows of a batch's objects, with one query."""

from __future__ import annotations

import pymongo

from boom_flow.core import AlertBatch, table_from_records
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
    assert known.prv_candidates["jd"].tolist() == [1.0, 2.0]
    assert set(known.prv_candidates["objectId"]) == {"ZTF1"}
    assert known.fp_hists["psfFlux"].tolist() == [3.0]
    assert len(known.prv_nondetections) == 0
