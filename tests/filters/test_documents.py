"""The filter documents built from the batch equal the server's over the archive."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from boom_flow.core import AlertBatch
from boom_flow.filters.documents import (
    FilterDocuments,
    permitted_programids,
    server_prefix,
)
from tests.filters.helpers import ingest, lsst_packets, with_forced_programids, ztf_packets
from tests.storage.helpers import candid, epoch_jd, object_id, ztf_batch

RIGHTS = ((1,), (1, 2, 3))


def _server_documents(db: Database, survey: str, ids: list[Any], rights: Any
                      ) -> dict[Any, dict[str, Any]]:
    prefix = server_prefix(survey, ids, rights)
    return {d["_id"]: d for d in db[f"{survey}_alerts"].aggregate(prefix)}


def _assert_parity(db: Database, survey: str, documents: FilterDocuments,
                   rights_sets: tuple[Any, ...]) -> int:
    compared = 0
    ids = [d["_id"] for d in documents.alerts]
    for rights in rights_sets:
        _, mine = documents.documents(rights)
        server = _server_documents(db, survey, ids, rights)
        assert {d["_id"] for d in mine} == set(server), rights
        for document in mine:
            assert document == server[document["_id"]], (rights, document["_id"])
            compared += 1
    return compared


@pytest.mark.parametrize("survey", ["ZTF", "LSST"])
def test_documents_of_every_real_alert_equal_the_servers(
        survey: str, mongo_db: Database, shared_data: Path) -> None:
    packets = ztf_packets(shared_data) if survey == "ZTF" else lsst_packets(shared_data)
    rights_sets = RIGHTS if survey == "ZTF" else (None,)
    built: list[FilterDocuments] = []
    compared = []
    known_objects = []

    def before(batch: AlertBatch) -> AlertBatch:
        assert batch.known is not None
        known_objects.append(len(batch.known.documents))
        built.append(FilterDocuments.from_batch(batch))
        return batch

    def after(_batch: AlertBatch) -> None:
        # Compared right after the write: a later batch may store a richer version of
        # a point, which the archive (rightly) shows from then on.
        compared.append(_assert_parity(mongo_db, survey, built[-1], rights_sets))

    # Small batches: objects seen again (the 34 alerts of ZTF21abiuvdk) have a stored
    # history merged with the batch's own.
    ingest(mongo_db, survey.lower(), shared_data, packets, 30, before, after)
    assert sum(compared) >= len(packets)
    if survey == "ZTF":
        assert max(known_objects) > 0, "no batch met an object already stored"
    # The backtest's view of the whole archive: the same documents again.
    alerts = list(mongo_db[f"{survey}_alerts"].find({}))
    aux = list(mongo_db[f"{survey}_alerts_aux"].find({}))
    documents = FilterDocuments.from_archive(survey, alerts, aux)
    assert _assert_parity(mongo_db, survey, documents, rights_sets) >= len(alerts)


def test_a_programid_1_document_holds_no_programid_2_alert_or_point() -> None:
    # Object 0 at epochs 0..5: epochs 2 and 5 are programid 2 (tests.storage.helpers).
    batch = with_forced_programids(ztf_batch([(0, j) for j in range(6)] + [(1, 2)]))
    documents = FilterDocuments.from_batch(batch)
    rows, public = documents.documents((1,))
    assert rows.tolist() == [0, 1, 3, 4]
    assert [d["candidate"]["programid"] for d in public] == [1, 1, 1, 1]
    assert [d["_id"] for d in public] == [candid(0, j) for j in (0, 1, 3, 4)]
    for document in public:
        for kind in ("prv_candidates", "prv_nondetections", "fp_hists"):
            assert all(p["programid"] == 1 for p in document[kind]), kind
    last = public[-1]  # epoch 4 sees epochs 0, 1, 3 (+ itself) but not epoch 2
    assert [p["jd"] for p in last["prv_candidates"]] == [epoch_jd(0, j) for j in (0, 1, 3, 4)]
    _, everything = documents.documents((1, 2))
    assert len(everything) == 7
    assert [p["jd"] for p in everything[4]["prv_candidates"]] == [
        epoch_jd(0, j) for j in range(5)]


def test_no_document_sees_a_point_later_than_its_alert() -> None:
    # Out of order in one batch: the later epochs' packets carry the earlier history.
    batch = ztf_batch([(3, 4), (3, 1), (3, 2)])
    _, documents = FilterDocuments.from_batch(batch).documents((1, 2))
    for document in documents:
        jd = document["candidate"]["jd"]
        for kind in ("prv_candidates", "prv_nondetections", "fp_hists"):
            assert all(p["jd"] <= jd for p in document[kind]), kind
    first = next(d for d in documents if d["_id"] == candid(3, 1))
    assert [p["jd"] for p in first["prv_candidates"]] == [epoch_jd(3, 0), epoch_jd(3, 1)]
    # The alert's own candidate (all its fields) is the version of its own epoch.
    assert first["prv_candidates"][-1] == first["candidate"]


def test_history_is_trimmed_to_365_days_and_keeps_absent_fields_absent() -> None:
    batch = ztf_batch([(7, 0)])
    jd = epoch_jd(7, 0)
    stored = [{"_id": object_id(7),
               "prv_candidates": [{"jd": jd - 400.0, "programid": 1, "magpsf": 19.0},
                                  {"jd": jd - 364.5, "programid": 1, "magpsf": None},
                                  {"jd": jd - 100.0, "programid": 1}],
               "prv_nondetections": [], "fp_hists": [],
               "cross_matches": {"gcvs": [{"name": "V1", "distance_arcsec": 0.5}]}}]
    _, (document,) = FilterDocuments.from_batch(batch, stored=stored).documents((1, 2))
    points = document["prv_candidates"]
    assert [p["jd"] for p in points] == [jd - 364.5, jd - 100.0, jd]
    assert points[0] == {"jd": jd - 364.5, "programid": 1, "magpsf": None}
    assert "magpsf" not in points[1]  # absent stays absent (not null)
    assert document["cross_matches"] == stored[0]["cross_matches"]


def test_a_new_objects_cross_matches_come_from_the_batch() -> None:
    matches = [{"gcvs": [{"name": "A"}]}, {"gcvs": [{"name": "B"}]}]
    batch = ztf_batch([(2, 1), (2, 0)], enrichments={"cross_matches": matches,
                                                      "classifications": [{"x": 0.5}, None]})
    _, documents = FilterDocuments.from_batch(batch).documents((1, 2))
    # The writer stores the earliest alert's matches (epoch 0, the second row).
    assert [d["cross_matches"] for d in documents] == [matches[1], matches[1]]
    assert documents[0]["classifications"] == {"x": 0.5}
    assert "classifications" not in documents[1]


def test_duplicate_packets_make_one_document_and_lsst_has_no_rights() -> None:
    batch = ztf_batch([(4, 0), (4, 0)])
    rows, documents = FilterDocuments.from_batch(batch).documents((1,))
    assert rows.tolist() == [0] and len(documents) == 1
    lsst = replace(ztf_batch([(5, 2)]), survey="LSST")  # programid 2, no rights in LSST
    assert len(FilterDocuments.from_batch(lsst).documents((1,))[1]) == 1
    assert permitted_programids("LSST", {"ZTF": [1]}) is None
    assert permitted_programids("ZTF", {"ZTF": [3, 1, 1]}) == (1, 3)
    assert permitted_programids("ZTF", {}) == ()


def test_a_stored_point_is_replaced_by_the_alerts_richer_candidate_only() -> None:
    batch = ztf_batch([(6, 1)])
    jd = epoch_jd(6, 1)
    stored = [{"_id": object_id(6), "prv_candidates": [
        {"jd": epoch_jd(6, 0), "candid": candid(6, 0), "programid": 1, "magpsf": 18.0,
         "extra": 1, "more": 2,
         "many": 3, "fields": 4, "here": 5, "a": 6, "b": 7, "c": 8, "d": 9, "e": 10,
         "f": 11, "g": 12, "h": 13},
        {"jd": jd, "candid": candid(6, 1), "programid": 1, "magpsf": 18.1}],
        "prv_nondetections": [], "fp_hists": []}]
    _, (document,) = FilterDocuments.from_batch(batch, stored=stored).documents((1,))
    first, own = document["prv_candidates"]
    assert first == stored[0]["prv_candidates"][0]  # a packet's history never replaces
    assert own == document["candidate"]  # the alert's candidate replaces the poorer point
