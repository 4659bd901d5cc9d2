"""Two detections of one object in one exposure (same ``jd``, two candids) are both
kept: in the archive's ``prv_candidates`` (in any arrival order, idempotently) and in
what filters see. Real packets: ZTF19aayzasz (2024-07-16) and ZTF18abefmzp
(2021-08-31) each carry such a pair in their history."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from pymongo.database import Database

from boom_flow.core.batch import RawPacket
from boom_flow.filters.documents import FilterDocuments
from boom_flow.storage import write_batch
from boom_flow.storage.known import load_known
from boom_flow.surveys import build_survey

pytestmark = [pytest.mark.services, pytest.mark.shared_data]

PACKETS = {
    "ZTF19aayzasz": "ztf/alerts/boom_20240716/2752190655615010046.avro",
    "ZTF18abefmzp": "ztf/alerts/pgb_20210831-0901/"
                    "ZTF18abefmzp.1703203221815015027.ztf_20210831_programid1.avro",
}


def _pairs(points: list[dict]) -> dict[float, set[int]]:
    """The jds with more than one detection, and their candids."""
    counts = Counter(p["jd"] for p in points)
    pairs: dict[float, set[int]] = {}
    for point in points:
        if counts[point["jd"]] > 1:
            pairs.setdefault(point["jd"], set()).add(point["candid"])
    return pairs


def test_two_detections_at_one_jd_are_both_kept(mongo_db: Database,
                                                shared_data: Path) -> None:
    survey = build_survey("ztf")
    for object_id, name in PACKETS.items():
        packet = RawPacket((shared_data / name).read_bytes(), name)
        batch = survey.decode([packet])
        expected = _pairs(batch.prv_candidates.astype(object).to_dict("records"))
        assert expected and all(len(c) == 2 for c in expected.values())
        documents = FilterDocuments.from_batch(load_known(mongo_db, batch))
        (document,) = documents.documents((1, 2, 3))[1]
        assert _pairs(document["prv_candidates"]) == expected
        first = write_batch(mongo_db, batch)
        again = write_batch(mongo_db, batch)
        assert again.points_added == 0 and again.alerts_inserted == 0
        aux = mongo_db.ZTF_alerts_aux.find_one({"_id": object_id})
        stored = aux["prv_candidates"]
        assert _pairs(stored) == expected
        assert [p["jd"] for p in stored] == sorted(p["jd"] for p in stored)
        assert first.points_added == sum(len(aux.get(a) or []) for a in (
            "prv_candidates", "prv_nondetections", "fp_hists"))


def test_a_second_detection_of_a_stored_jd_is_added_later(mongo_db: Database,
                                                          shared_data: Path) -> None:
    """The archive first holds one of the pair; the packet bringing both adds the other
    (a guard on the candids, not on the jd, lets the push through)."""
    name = PACKETS["ZTF19aayzasz"]
    batch = build_survey("ztf").decode([RawPacket((shared_data / name).read_bytes(), name)])
    (jd, candids), = _pairs(batch.prv_candidates.astype(object).to_dict("records")).items()
    kept = min(candids)
    history = batch.prv_candidates
    one = history[(history["jd"] != jd) | (history["candid"] == kept)].reset_index(drop=True)
    write_batch(mongo_db, replace(batch, prv_candidates=one))
    stored = mongo_db.ZTF_alerts_aux.find_one({"_id": "ZTF19aayzasz"})["prv_candidates"]
    assert [p["candid"] for p in stored if p["jd"] == jd] == [kept]
    summary = write_batch(mongo_db, batch)
    stored = mongo_db.ZTF_alerts_aux.find_one({"_id": "ZTF19aayzasz"})["prv_candidates"]
    assert {p["candid"] for p in stored if p["jd"] == jd} == candids
    assert summary.points_added == 1 and summary.aux_reads == 1
