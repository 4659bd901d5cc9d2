"""Every real alert of ``../shared/data`` in the real server, and each alert's filter
input document built BY THE SERVER: the alert, joined (``$lookup``) with its object's aux
document, history trimmed to the 365 days up to the alert (no look-ahead)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymongo.database import Database

from boom_flow.core import RawPacket
from boom_flow.storage import write_batch
from boom_flow.surveys import build_survey
from tests.pipeline.conftest import ztf_packet_bytes

HISTORIES = ("prv_candidates", "prv_nondetections", "fp_hists")
OBJECT_FIELDS = ("cross_matches", "aliases")
LSST_FOLDERS = ("wire_format", "or4_comcamsim_v7_1", "ocf")


def store_real_alerts(db: Database, shared: Path, batch_size: int = 40) -> dict[str, int]:
    """Decode and write every real ZTF and LSST packet; the number of alerts per survey."""
    ztf = [RawPacket(data, source) for source, data in ztf_packet_bytes(shared)]
    lsst = [RawPacket(path.read_bytes(), str(path)) for folder in LSST_FOLDERS
            for path in sorted((shared / "lsst" / folder).glob("*.avro"))]
    surveys = [(build_survey("ztf"), ztf),
               (build_survey("lsst", schema_dir=str(shared / "lsst" / "schema")), lsst)]
    counts = {}
    for survey, packets in surveys:
        for start in range(0, len(packets), batch_size):
            write_batch(db, survey.decode(packets[start:start + batch_size]))
        counts[survey.name] = db[f"{survey.name}_alerts"].count_documents({})
    return counts


def _history(name: str) -> dict[str, Any]:
    """The aux array ``name`` as it stood when the alert arrived: 365 days, no later point."""
    return {"$filter": {
        "input": {"$ifNull": [f"$$aux.{name}", []]}, "as": "point",
        "cond": {"$and": [{"$lte": ["$$point.jd", "$candidate.jd"]},
                          {"$gte": ["$$point.jd", {"$subtract": ["$candidate.jd", 365]}]}]}}}


def input_prefix(survey: str, ids: list[Any]) -> list[dict[str, Any]]:
    """The stages that turn stored alerts into filter input documents (server side)."""
    joined: dict[str, Any] = {name: _history(name) for name in HISTORIES}
    joined.update({name: f"$$aux.{name}" for name in OBJECT_FIELDS})
    return [
        {"$match": {"_id": {"$in": ids}}},
        {"$sort": {"_id": 1}},
        {"$lookup": {"from": f"{survey}_alerts_aux", "localField": "objectId",
                     "foreignField": "_id", "as": "aux"}},
        # one $let per field: a variable path, not "$aux.x" (SecantusDB does not map
        # field paths over arrays, see test_documented.py)
        {"$addFields": {name: {"$let": {"vars": {"aux": {"$arrayElemAt": ["$aux", 0]}},
                                         "in": spec}} for name, spec in joined.items()}},
        {"$project": {"aux": 0}},
    ]
