"""The writer plans a batch's aux updates from the aux documents the batch already
read (``load_known``) instead of reading them again: the archive must end up exactly
as before, night after night, even when those documents are stale."""

from __future__ import annotations

from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from boom_flow.core.batch import AlertBatch, RawPacket
from boom_flow.simulate import NightSpec, simulate_night
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.storage.archive import WriteSummary, collection_names
from boom_flow.storage.known import KNOWN_FIELDS, load_known
from boom_flow.surveys import build_survey

NIGHTS, ALERTS, OBJECTS, BATCH = 3, 60, 20, 30


def night_batches() -> list[AlertBatch]:
    """Three nights of the same objects, in batches, in order."""
    survey = build_survey("ztf")
    batches = []
    for night in range(NIGHTS):
        spec = NightSpec(n_alerts=ALERTS, n_objects=OBJECTS, seed=5, night_jd=2460500.5 + night)
        packets = [RawPacket(a.packet, "sim") for a in simulate_night(spec)]
        batches += [survey.decode(packets[i:i + BATCH]) for i in range(0, len(packets), BATCH)]
    return batches


def contents(db: Database) -> dict[str, list[dict[str, Any]]]:
    names = collection_names("ZTF")
    return {suffix: list(db[names[suffix]].find().sort("_id", 1))
            for suffix in ("alerts", "alerts_aux", "alerts_cutouts")}


@pytest.mark.services
def test_planning_from_known_documents_stores_what_a_read_would(
        mongo_db: Database) -> None:
    client: pymongo.MongoClient = mongo_db.client
    dbs = {path: client[f"{mongo_db.name}_{path}"] for path in ("read", "known", "stale")}
    for db in dbs.values():
        ensure_indexes(db, "ZTF")
    batches = night_batches()
    totals = {path: WriteSummary() for path in dbs}
    stale_known: AlertBatch | None = None
    try:
        for number, batch in enumerate(batches):
            now = 2460600.0 + number
            # As before the change: no aux documents in the batch, the writer reads.
            totals["read"] += write_batch(dbs["read"], batch, now_jd=now)
            totals["known"] += write_batch(dbs["known"], load_known(dbs["known"], batch),
                                           now_jd=now)
            # Known documents read before the previous batch was written (a worker that
            # read while another wrote the same objects): the guards must catch it.
            ahead = batches[number + 1] if number + 1 < len(batches) else None
            current = stale_known if stale_known is not None else load_known(dbs["stale"],
                                                                              batch)
            stale_known = load_known(dbs["stale"], ahead) if ahead is not None else None
            totals["stale"] += write_batch(dbs["stale"], current, now_jd=now)
        reference = contents(dbs["read"])
        aux = reference["alerts_aux"]
        assert len(aux) >= OBJECTS  # the same objects, and each night's asteroids
        # Three nights of history really accumulated (the comparison is not vacuous).
        assert max(len(doc["prv_candidates"]) for doc in aux) >= NIGHTS
        assert contents(dbs["known"]) == reference
        assert contents(dbs["stale"]) == reference
        # What the stages are given: exactly the projected aux documents.
        last = load_known(dbs["known"], batches[-1]).known
        assert last is not None and len(last.documents) == len(last.objects) > 0
        projected = dbs["known"][collection_names("ZTF")["alerts_aux"]].find(
            {"_id": {"$in": [doc["_id"] for doc in last.documents]}},
            {name: 1 for name in KNOWN_FIELDS})
        assert list(last.documents) == list(projected)
    finally:
        for db in dbs.values():
            client.drop_database(db.name)
    read, known, stale = totals["read"], totals["known"], totals["stale"]
    assert (known.points_added, known.points_replaced) == (read.points_added,
                                                           read.points_replaced)
    assert read.aux_reads == len(batches)
    # Planned from the batch's own documents: not one read of the archive.
    assert known.aux_reads == 0
    # Stale documents cost a fresh read where another write got in the way.
    assert 0 < stale.aux_reads <= len(batches)
