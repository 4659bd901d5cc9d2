"""The archive writer against the real MongoDB-compatible server (SecantusDB)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pymongo
import pytest
from pymongo import monitoring
from pymongo.database import Database

from boom_flow.config import Settings
from boom_flow.core.batch import Rejection, table_from_records
from boom_flow.crossmatch.sky import healpix
from boom_flow.storage import (
    WriteSummary,
    collection_names,
    count_rejected,
    ensure_indexes,
    rejection_id,
    write_batch,
)
from boom_flow.storage import history as history_module
from boom_flow.storage.archive import MAX_STORED_REJECTION_BYTES
from tests.storage.helpers import (
    CANDIDATE_FIELDS,
    OLD_FIELDS,
    OLD_SCHEMA,
    SCHEMA,
    candid,
    candidate,
    epoch_jd,
    expected_light_curve,
    object_id,
    position,
    ztf_batch,
)

pytestmark = pytest.mark.services


def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    return {name: list(db[name].find().sort("_id", 1))
            for name in sorted(db.list_collection_names())}


def index_keys(db: Database, name: str) -> set[tuple[tuple[str, Any], ...]]:
    return {tuple(index["key"].items()) for index in db[name].list_indexes()}


class CommandRecorder(monitoring.CommandListener):
    """Every command a client sends, as ``(name, collection)``."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, Any]] = []
        self.documents: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.command_name, event.command.get(event.command_name)))
        self.documents.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def count(self, name: str, collection: str) -> int:
        return self.commands.count((name, collection))


@pytest.fixture
def recorded(settings: Settings, mongo_db: Database) -> Iterator[tuple[Database, CommandRecorder]]:
    """The test's database through a client that records every command it sends."""
    recorder = CommandRecorder()
    mongo = settings.services.mongodb
    client: pymongo.MongoClient = pymongo.MongoClient(mongo.connection_uri,
                                                      event_listeners=[recorder])
    try:
        yield client[mongo_db.name], recorder
    finally:
        client.close()


def test_indexes_are_created_once_and_again_without_error(mongo_db: Database) -> None:
    ensure_indexes(mongo_db, "ztf")
    ensure_indexes(mongo_db, "ZTF")
    ensure_indexes(mongo_db, "LSST")
    geo = (("coordinates.radec_geojson", "2dsphere"), ("_id", 1))
    ztf, lsst = collection_names("ZTF"), collection_names("LSST")
    assert index_keys(mongo_db, ztf["alerts"]) == {
        (("_id", 1),), geo, (("objectId", 1),), (("candidate.jd", 1),),
        (("candidate.programid", 1), ("candidate.jd", 1)),
    }
    assert index_keys(mongo_db, ztf["alerts_aux"]) == {(("_id", 1),), geo,
                                                       (("coordinates.healpix_14", 1),)}
    assert (("received_at", 1),) in index_keys(mongo_db, ztf["alerts_rejected"])
    assert (("candidate.programid", 1), ("candidate.jd", 1)) not in index_keys(
        mongo_db, lsst["alerts"])
    assert geo in index_keys(mongo_db, lsst["alerts_aux"])


def test_an_alert_document_holds_exactly_its_schema_fields(mongo_db: Database) -> None:
    enrichments = {
        "classifications": [{"acai_h": np.float32(0.25), "btsbot": 0.5}, None],
        "properties": [{"star": False, "rock": np.bool_(True)}, {"star": True}],
        "cross_matches": [{"gcvs": [{"name": "V1", "distance_arcsec": 1.5}]}, None],
        "_scratch": ["never stored", "never stored"],
    }
    batch = ztf_batch([(0, 0), (1, 0)], schemas=[SCHEMA, OLD_SCHEMA], enrichments=enrichments)
    summary = write_batch(mongo_db, batch, now_jd=2460500.25)
    assert summary.alerts_inserted == 2 and summary.alerts_existing == 0
    assert summary.objects_created == 2 and summary.cutouts_inserted == 2

    new = mongo_db.ZTF_alerts.find_one({"_id": candid(0, 0)})
    old = mongo_db.ZTF_alerts.find_one({"_id": candid(1, 0)})
    assert new["_id"] == 2**62  # 64-bit ids stay exact
    assert set(new) == {"_id", "objectId", "candidate", "coordinates", "classifications",
                        "properties", "created_at", "updated_at"}
    assert new["objectId"] == object_id(0)
    assert new["candidate"] == candidate(0, 0)
    assert list(new["candidate"]) == list(CANDIDATE_FIELDS)
    # a field of the schema with a null value stays, as null
    assert "ssnamenr" in new["candidate"] and new["candidate"]["ssnamenr"] is None
    # a field the packet's schema does not define is absent, not null
    assert set(old["candidate"]) == set(OLD_FIELDS) and "drb" not in old["candidate"]
    assert old["candidate"] == candidate(1, 0, OLD_SCHEMA)
    assert new["classifications"] == {"acai_h": 0.25, "btsbot": 0.5}
    assert new["properties"] == {"star": False, "rock": True}
    assert "classifications" not in old  # None: the model could not run
    assert "cross_matches" not in new and "_scratch" not in new
    assert new["created_at"] == new["updated_at"] == 2460500.25

    aux = mongo_db.ZTF_alerts_aux.find_one({"_id": object_id(0)})
    assert aux["cross_matches"] == {"gcvs": [{"name": "V1", "distance_arcsec": 1.5}]}
    assert "cross_matches" not in mongo_db.ZTF_alerts_aux.find_one({"_id": object_id(1)})
    # The aux position also holds its HEALPix pixel (for the cross-survey aliases).
    assert aux["coordinates"] == {**new["coordinates"],
                                  "healpix_14": healpix(np.array([position(0)[0]]),
                                                        np.array([position(0)[1]]), 14)[0]}
    assert aux["created_at"] == aux["updated_at"] == 2460500.25
    cutouts = mongo_db.ZTF_alerts_cutouts.find_one({"_id": candid(0, 0)})
    assert cutouts == {"_id": candid(0, 0), "cutoutScience": b"sci0",
                       "cutoutTemplate": b"tmpl", "cutoutDifference": b"diff"}


def test_coordinates_are_geojson_and_galactic(mongo_db: Database) -> None:
    write_batch(mongo_db, ztf_batch([(0, 0), (3, 1)]))
    for k in (0, 3):
        doc = mongo_db.ZTF_alerts.find_one({"objectId": object_id(k)})
        ra, dec = position(k)
        geojson = doc["coordinates"]["radec_geojson"]
        assert geojson == {"type": "Point", "coordinates": [ra - 180.0, dec]}
    # the 2dsphere index serves cone searches on what was written
    ensure_indexes(mongo_db, "ZTF")
    ra, dec = position(3)
    near = mongo_db.ZTF_alerts.find({"coordinates.radec_geojson": {"$geoWithin": {
        "$centerSphere": [[ra - 180.0, dec], np.radians(1 / 3600)]}}})
    assert [d["_id"] for d in near] == [candid(3, 1)]


@pytest.mark.parametrize(("ra", "dec", "lon", "lat"), [
    (266.40499, -28.93617, 0.0, 0.0),  # Galactic centre
    (192.85948, 27.12825, None, 90.0),  # north Galactic pole (longitude undefined)
    (0.0, 0.0, 96.33728, -60.18855),  # equinox: l, b from the IAU rotation
    (83.63308, 22.01450, 184.55746, -5.78436),  # Crab nebula
])
def test_galactic_coordinates_match_hand_checked_values(
        ra: float, dec: float, lon: float | None, lat: float) -> None:
    from boom_flow.storage.documents import coordinates

    (doc,) = coordinates(np.array([ra]), np.array([dec]))
    assert doc is not None
    assert doc["b"] == pytest.approx(lat, abs=1e-4)
    if lon is not None:
        delta = (doc["l"] - lon + 180.0) % 360.0 - 180.0
        assert abs(delta) < 1e-4 and 0.0 <= doc["l"] < 360.0


def test_unusable_positions_get_no_coordinates() -> None:
    from boom_flow.storage.documents import coordinates

    assert coordinates(np.array([np.nan, 10.0, 370.0]), np.array([0.0, 95.0, 1.0]))[:2] == [
        None, None]
    assert coordinates(np.array([370.0]), np.array([1.0]))[0]["radec_geojson"][
        "coordinates"] == pytest.approx([-170.0, 1.0])


def _with_raw_floats(frame: pd.DataFrame, name: str, values: list[float]) -> pd.DataFrame:
    """A column holding real NaN/inf (``table_from_records`` would make NaN null)."""
    array = pa.array(values, type=pa.float64(), from_pandas=False)
    return frame.assign(**{name: pd.Series(pd.arrays.ArrowExtensionArray(array),
                                           index=frame.index)})


def test_nan_and_infinities_are_stored_as_null(mongo_db: Database) -> None:
    batch = ztf_batch([(0, 0), (0, 2)], enrichments={
        "classifications": [{"acai_h": float("nan")}, float("nan")]})
    candidates = _with_raw_floats(batch.candidates, "drb", [float("nan"), float("inf")])
    history = _with_raw_floats(batch.prv_candidates, "psfFlux",
                               [float("-inf")] * len(batch.prv_candidates))
    assert np.isnan(candidates["drb"].to_numpy(dtype=float, na_value=0.0)[0])
    write_batch(mongo_db, replace(batch, candidates=candidates, prv_candidates=history))
    first = mongo_db.ZTF_alerts.find_one({"_id": candid(0, 0)})
    second = mongo_db.ZTF_alerts.find_one({"_id": candid(0, 2)})
    assert first["candidate"]["drb"] is None and second["candidate"]["drb"] is None
    assert first["classifications"] == {"acai_h": None}
    assert "classifications" not in second
    aux = mongo_db.ZTF_alerts_aux.find_one({"_id": object_id(0)})
    # epoch 1 is only known from epoch 2's history, whose psfFlux was -inf
    (point,) = [p for p in aux["prv_candidates"] if p["jd"] == epoch_jd(0, 1)]
    assert "psfFlux" in point and point["psfFlux"] is None


def _ingest(db: Database, epochs: list[tuple[int, int]], size: int, now: float
            ) -> WriteSummary:
    total = WriteSummary()
    for start in range(0, len(epochs), size):
        total += write_batch(db, ztf_batch(epochs[start:start + size]), now_jd=now)
    return total


def test_light_curves_are_sorted_deduplicated_and_the_same_in_any_order(
        mongo_db: Database) -> None:
    objects, epochs = 3, 8
    in_order = sorted(((k, j) for k in range(objects) for j in range(epochs)),
                      key=lambda e: epoch_jd(*e))
    assert _ingest(mongo_db, in_order, size=4, now=2460600.0).points_replaced == 0
    reference = list(mongo_db.ZTF_alerts_aux.find().sort("_id", 1))
    assert [doc["_id"] for doc in reference] == [object_id(k) for k in range(objects)]
    for k, doc in enumerate(reference):
        expected = expected_light_curve(k, epochs)
        for array, points in expected.items():
            assert doc[array] == points, array
        assert doc["coordinates"]["radec_geojson"]["coordinates"] == [
            position(k)[0] - 180.0, position(k)[1]]

    for seed in (1, 2):
        for name in collection_names("ZTF").values():
            mongo_db.drop_collection(name)
        shuffled = list(in_order)
        random.Random(seed).shuffle(shuffled)
        summary = _ingest(mongo_db, shuffled, size=5, now=2460600.0)
        # late alerts replaced the history entries stored for their epochs
        assert summary.points_replaced > 0
        assert list(mongo_db.ZTF_alerts_aux.find().sort("_id", 1)) == reference


def test_ingesting_a_batch_twice_changes_nothing(mongo_db: Database) -> None:
    rejected = [Rejection("undecodable", "night.tar.gz!a.avro", "", b"\x00junk")]
    first = ztf_batch([(0, 0), (1, 0), (0, 1)])
    second = ztf_batch([(1, 2), (0, 3), (2, 0)], rejected=rejected)
    write_batch(mongo_db, first, now_jd=1.0)
    summary = write_batch(mongo_db, second, now_jd=2.0)
    assert summary.alerts_inserted == 3 and summary.objects_created == 1
    assert summary.objects_updated == 2 and summary.points_added > 0
    before = snapshot(mongo_db)
    for now in (3.0, 4.0):
        again = write_batch(mongo_db, second, now_jd=now)
        assert again.alerts_inserted == 0 and again.alerts_existing == 3
        assert (again.objects_created, again.objects_updated, again.points_added,
                again.points_replaced, again.cutouts_inserted, again.rejected_inserted) == (
            0, 0, 0, 0, 0, 0)
        assert again.rejected == 1
        assert snapshot(mongo_db) == before
    assert mongo_db.ZTF_alerts_aux.find_one({"_id": object_id(2)})["updated_at"] == 2.0
    assert mongo_db.ZTF_alerts_aux.find_one({"_id": object_id(0)})["created_at"] == 1.0


def test_updated_at_moves_only_for_objects_that_got_something(mongo_db: Database) -> None:
    write_batch(mongo_db, ztf_batch([(0, 0), (1, 0)]), now_jd=1.0)
    write_batch(mongo_db, ztf_batch([(0, 1)]), now_jd=2.0)
    updated = {d["_id"]: d["updated_at"] for d in mongo_db.ZTF_alerts_aux.find()}
    assert updated == {object_id(0): 2.0, object_id(1): 1.0}


def test_rejected_packets_are_stored_once(mongo_db: Database) -> None:
    bad = Rejection("undecodable ZTF packet: EOF", "kafka:ztf_20240716", "3:1207", b"\x01\x02")
    other = Rejection("ZTF container holds no alert", "kafka:ztf_20240716", "3:1208", b"")
    same_bytes_elsewhere = Rejection("undecodable ZTF packet: EOF", "/night/a.avro", "",
                                     b"\x01\x02")
    batch = ztf_batch([], rejected=[bad, other, bad, same_bytes_elsewhere])
    summary = write_batch(mongo_db, batch, now_jd=10.0)
    assert summary.rejected == 4 and summary.rejected_inserted == 3
    assert summary.alerts_inserted == 0 and summary.aux_reads == 0
    redelivered = write_batch(mongo_db, ztf_batch([], rejected=[bad]), now_jd=11.0)
    assert redelivered.rejected_inserted == 0
    assert count_rejected(mongo_db, "ZTF") == count_rejected(mongo_db, "ztf") == 3
    stored = mongo_db.ZTF_alerts_rejected.find_one({"_id": rejection_id(bad)})
    assert stored == {"_id": rejection_id(bad), "reason": bad.reason, "source": bad.source,
                      "position": bad.position, "data": b"\x01\x02", "length": 2,
                      "sha256": hashlib.sha256(b"\x01\x02").hexdigest(), "truncated": False,
                      "received_at": 10.0}
    assert set(mongo_db.list_collection_names()) == {"ZTF_alerts_rejected"}


def test_a_rejected_packet_over_16_mb_is_stored_cut_with_its_hash(mongo_db: Database) -> None:
    """Issue 16: 17 MB of junk made the rejected write exceed MongoDB's document limit,
    the batch failed and the stream never moved on."""
    junk = bytes(range(256)) * (17 * 2**20 // 256)
    batch = ztf_batch([(1, 1)], rejected=[Rejection("undecodable ZTF packet", "kafka:t",
                                                    "0:20", junk)])
    summary = write_batch(mongo_db, batch, now_jd=10.0)
    assert summary.rejected_inserted == 1 and summary.alerts_inserted == 1
    stored = mongo_db.ZTF_alerts_rejected.find_one()
    assert stored["length"] == len(junk) and stored["truncated"] is True
    assert stored["sha256"] == hashlib.sha256(junk).hexdigest()
    assert stored["data"] == junk[:MAX_STORED_REJECTION_BYTES]


def _aux_pushes(recorder: CommandRecorder, aux: str) -> tuple[list[dict[str, Any]], int]:
    """The ``$push`` updates sent to ``aux``, and how many of them ``$sort``."""
    pushes = [u["u"] for doc in recorder.documents if doc.get("update") == aux
              for u in doc["updates"] if "$push" in u["u"]]
    sorting = sum(any("$sort" in spec for spec in u["$push"].values()) for u in pushes)
    return pushes, sorting


def test_one_bulk_write_per_collection_and_one_read_per_batch(
        recorded: tuple[Database, CommandRecorder]) -> None:
    db, recorder = recorded
    names = collection_names("ZTF")
    objects = range(20)
    batches = [
        # 20 new objects
        (ztf_batch([(k, 0) for k in objects]), 0, 0, 0),
        # epoch 4 with no history: appended after epoch 0, no $sort
        (ztf_batch([(k, 4) for k in objects], window=0), 20, 0, 0),
        # epoch 3 with its history: older than epoch 4, so $push sorts
        (ztf_batch([(k, 3) for k in objects]), 20, 20, 0),
        # epoch 2's own candidate replaces the history entry stored for it
        (ztf_batch([(k, 2) for k in range(10)]), 0, 0, 10),
    ]
    for number, (batch, pushes, sorting, replaced) in enumerate(batches):
        recorder.commands.clear()
        recorder.documents.clear()
        summary = write_batch(db, batch)
        assert summary.alerts_inserted == len(batch)
        assert recorder.count("find", names["alerts_aux"]) == 1
        for name in ("alerts", "alerts_cutouts"):
            assert recorder.count("insert", names[name]) == 1, (number, name)
        assert recorder.count("update", names["alerts_aux"]) == 1, number
        assert len(recorder.commands) == 4, recorder.commands  # no getMore, nothing else
        sent, sorted_count = _aux_pushes(recorder, names["alerts_aux"])
        assert (len(sent), sorted_count, summary.points_replaced) == (pushes, sorting, replaced)
    for k in objects:
        aux = db.ZTF_alerts_aux.find_one({"_id": object_id(k)})
        assert [p["jd"] for p in aux["prv_candidates"]] == [epoch_jd(k, j) for j in range(5)]
        alerted = (0, 2, 3, 4) if k < 10 else (0, 3, 4)
        assert [p for p in aux["prv_candidates"] if "ndethist" in p] == [
            candidate(k, j) for j in alerted]
        expected = expected_light_curve(k, 5)
        expected["fp_hists"].pop()  # epoch 4 came without history: no forced point at 3
        for array, points in expected.items():
            assert [p["jd"] for p in aux[array]] == [p["jd"] for p in points], array


def test_always_sort_gives_the_same_archive(
        recorded: tuple[Database, CommandRecorder]) -> None:
    db, recorder = recorded
    epochs = [[(0, 0), (1, 0)], [(0, 3), (1, 1)], [(0, 1), (1, 4)]]
    for survey, always_sort in (("ZTF", False), ("REF", True)):
        recorder.documents.clear()
        for batch in epochs:
            write_batch(db, ztf_batch(batch, survey=survey, window=1), now_jd=5.0,
                        always_sort=always_sort)
        pushes, sorting = _aux_pushes(recorder, f"{survey}_alerts_aux")
        assert pushes and (sorting == len(pushes)) == always_sort
    assert list(db.ZTF_alerts_aux.find().sort("_id", 1)) == list(
        db.REF_alerts_aux.find().sort("_id", 1))


def test_a_concurrent_writer_is_caught_and_the_merge_planned_again(
        mongo_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    for survey in ("ZTF", "REF"):
        write_batch(mongo_db, ztf_batch([(0, 0), (1, 0)], survey=survey), now_jd=1.0)
    write_batch(mongo_db, ztf_batch([(0, 2), (1, 1)], survey="REF"), now_jd=2.0)
    real = history_module.read_stored
    reads: list[list[Any]] = []

    def first_read_is_stale(collection: Any, ids: list[Any]) -> Any:
        # The first read misses the objects another worker has just created, so the
        # plan tries to create them: the upserts find them, and the merge starts over.
        reads.append(ids)
        return real(collection, [] if len(reads) == 1 else ids)

    monkeypatch.setattr(history_module, "read_stored", first_read_is_stale)
    summary = write_batch(mongo_db, ztf_batch([(0, 2), (1, 1)]), now_jd=2.0)
    assert summary.aux_reads == len(reads) == 2
    assert summary.objects_created == 0
    assert list(mongo_db.ZTF_alerts_aux.find().sort("_id", 1)) == list(
        mongo_db.REF_alerts_aux.find().sort("_id", 1))


def test_a_guard_stops_a_push_planned_on_a_stale_read(mongo_db: Database) -> None:
    write_batch(mongo_db, ztf_batch([(0, 0)]), now_jd=1.0)
    collection = mongo_db.ZTF_alerts_aux
    stale_existing, stale_points = history_module.read_stored(collection, [object_id(0)])
    write_batch(mongo_db, ztf_batch([(0, 1)]), now_jd=2.0)  # another worker
    batch = ztf_batch([(0, 1), (0, 2)])
    from boom_flow.storage.documents import candidate_records, float_column
    from boom_flow.storage.points import incoming_points

    records = candidate_records(batch.candidates, [SCHEMA] * 2, batch.schema_fields)
    incoming = incoming_points(
        {"prv_candidates": batch.prv_candidates, "prv_nondetections": batch.prv_nondetections,
         "fp_hists": batch.fp_hists},
        [object_id(0)] * 2, float_column(batch.candidates, "jd"), records)
    calls = []

    def reader(collection: Any, ids: list[Any]) -> Any:
        calls.append(ids)
        if len(calls) == 1:
            return stale_existing, stale_points
        return history_module.read_stored(collection, ids)

    counts = history_module.merge_histories(collection, incoming, {}, 3.0, reader=reader)
    assert counts.attempts == 2
    aux = collection.find_one({"_id": object_id(0)})
    for array, points in expected_light_curve(0, 3).items():
        assert [p["jd"] for p in aux[array]] == [p["jd"] for p in points], array


def test_lsst_alerts_keep_integer_ids_and_ss_object_ids(mongo_db: Database) -> None:
    alerts = table_from_records([
        {"_id": 170_000_000_000_000_001, "objectId": 3_000_000_000_000_000_001,
         "ssObjectId": None, "schema": "9.0"},
        {"_id": 170_000_000_000_000_002, "objectId": 3_000_000_000_000_000_002,
         "ssObjectId": 99, "schema": "9.0"},
    ])
    candidates = table_from_records([
        {"diaSourceId": 170_000_000_000_000_001, "jd": 2460800.1, "ra": 10.0, "dec": -5.0,
         "psfFlux": 1200.0, "band": "r"},
        {"diaSourceId": 170_000_000_000_000_002, "jd": 2460800.2, "ra": 11.0, "dec": -6.0,
         "psfFlux": -300.0, "band": "g"},
    ])
    empty = table_from_records([], ["objectId", "jd"])
    from boom_flow.core.batch import AlertBatch

    batch = AlertBatch("LSST", alerts, candidates, empty, empty, empty,
                       table_from_records([], ["_id", "cutoutScience", "cutoutTemplate",
                                               "cutoutDifference"]),
                       schema_fields={"9.0": ("diaSourceId", "jd", "ra", "dec", "psfFlux",
                                              "band")})
    summary = write_batch(mongo_db, batch)
    assert summary.objects_created == 2 and summary.cutouts_inserted == 0
    first, second = mongo_db.LSST_alerts.find().sort("_id", 1)
    assert "ssObjectId" not in first and second["ssObjectId"] == 99
    assert second["objectId"] == 3_000_000_000_000_000_002
    aux = mongo_db.LSST_alerts_aux.find_one({"_id": 3_000_000_000_000_000_002})
    assert aux["prv_candidates"] == [second["candidate"]]
    assert aux["prv_nondetections"] == [] and aux["fp_hists"] == []
    assert "LSST_alerts_cutouts" not in mongo_db.list_collection_names()


def test_enrichments_may_not_replace_alert_fields(mongo_db: Database) -> None:
    batch = ztf_batch([(0, 0)], enrichments={"candidate": [{}]})
    with pytest.raises(ValueError, match="candidate"):
        write_batch(mongo_db, batch)
    assert mongo_db.list_collection_names() == []


def test_a_packet_delivered_twice_in_one_batch_is_one_alert(mongo_db: Database) -> None:
    summary = write_batch(mongo_db, ztf_batch([(0, 0), (0, 0), (0, 1)]))
    assert summary.alerts_inserted == 2 and summary.alerts_existing == 0
    assert mongo_db.ZTF_alerts.count_documents({}) == 2
    aux = mongo_db.ZTF_alerts_aux.find_one()
    assert [p["jd"] for p in aux["prv_candidates"]] == [epoch_jd(0, 0), epoch_jd(0, 1)]
