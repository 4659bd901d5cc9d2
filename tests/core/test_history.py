"""Light curves as they stood when each alert arrived: merged, deduplicated, no look-ahead."""

from __future__ import annotations

from boom_flow.core import AlertBatch, KnownHistory, records_from_table, table_from_records
from boom_flow.core.history import object_points, points_until_alert


def _batch() -> AlertBatch:
    alerts = table_from_records([{"_id": 1, "objectId": "A"}, {"_id": 2, "objectId": "A"},
                                 {"_id": 3, "objectId": "B"}])
    candidates = table_from_records([
        {"jd": 10.0, "magpsf": 18.0, "fid": 1},
        {"jd": 12.0, "magpsf": 17.5, "fid": 1},
        {"jd": 11.0, "magpsf": 19.0, "fid": 2},
    ])
    # Packets repeat earlier epochs, with fewer fields than the candidates had.
    history = table_from_records([
        {"objectId": "A", "jd": 10.0, "magpsf": 18.01},
        {"objectId": "A", "jd": 9.0, "magpsf": 18.5},
        {"objectId": "A", "jd": 9.0, "magpsf": 18.5},
    ])
    empty = table_from_records([], ["objectId", "jd"])
    known = KnownHistory(
        objects=table_from_records([{"objectId": "A", "cross_matches": None, "aliases": None}]),
        prv_candidates=table_from_records([{"objectId": "A", "jd": 5.0, "magpsf": 19.5,
                                            "fid": 2}]),
        prv_nondetections=empty, fp_hists=empty,
    )
    return AlertBatch("ZTF", alerts, candidates, history, empty, empty,
                      table_from_records([]), known=known)


def test_points_merge_archive_packets_and_candidates_keeping_the_richest() -> None:
    points = records_from_table(object_points(_batch(), "prv_candidates"))
    assert [(p["objectId"], p["jd"]) for p in points] == [
        ("A", 5.0), ("A", 9.0), ("A", 10.0), ("A", 12.0), ("B", 11.0)]
    epoch_10 = next(p for p in points if p["jd"] == 10.0)
    assert epoch_10["magpsf"] == 18.0 and epoch_10["fid"] == 1  # the candidate's version


def test_each_alert_sees_nothing_after_itself() -> None:
    joined = points_until_alert(_batch(), "prv_candidates")
    seen = joined.groupby("alert")["jd"].apply(list).to_dict()
    assert seen == {0: [5.0, 9.0, 10.0], 1: [5.0, 9.0, 10.0, 12.0], 2: [11.0]}


def test_without_known_history_only_the_batch_counts() -> None:
    batch = _batch()
    from dataclasses import replace

    points = object_points(replace(batch, known=None), "prv_candidates")
    assert sorted(points["jd"].tolist()) == [9.0, 10.0, 11.0, 12.0]
    assert len(object_points(batch, "fp_hists")) == 0


def test_stored_points_read_from_documents_rank_like_a_table() -> None:
    """The archive's points are read from the aux documents on the asked fields only;
    which version of an epoch wins still counts every stored field (a NaN as null)."""
    from dataclasses import replace

    import pandas as pd

    stored = [{"jd": 5.0, "magpsf": 19.5, "fid": 2, "candid": 50},
              # epoch 9 stored with more fields than the packets repeat it with
              {"jd": 9.0, "magpsf": 18.4, "fid": 1, "sigmapsf": 0.1},
              {"jd": 7.0, "magpsf": float("nan"), "fid": None}]
    documents = ({"_id": "A", "prv_candidates": stored},)
    batch = _batch()
    as_table = KnownHistory(
        objects=batch.known.objects,
        prv_candidates=table_from_records([{**p, "objectId": "A"} for p in stored]),
        prv_nondetections=table_from_records([], ["objectId", "jd"]),
        fp_hists=table_from_records([], ["objectId", "jd"]), documents=documents)
    as_documents = KnownHistory(objects=batch.known.objects, documents=documents)
    for columns in (None, ("magpsf",), ("magpsf", "sigmapsf", "absent")):
        expected = object_points(replace(batch, known=as_table), "prv_candidates", columns)
        read = object_points(replace(batch, known=as_documents), "prv_candidates", columns)
        pd.testing.assert_frame_equal(read, expected)
    epoch_9 = records_from_table(object_points(replace(batch, known=as_documents),
                                               "prv_candidates", ("magpsf",)))
    assert [p["magpsf"] for p in epoch_9 if p["jd"] == 9.0] == [18.4]
    assert len(object_points(replace(batch, known=as_documents), "fp_hists")) == 0
