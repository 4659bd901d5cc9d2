"""Shared by the filter tests: real packets ingested batch by batch, filters as stored
documents, and the server's own answer for a pipeline over the stored archive."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from pymongo.database import Database

from boom_flow.core import AlertBatch, RawPacket
from boom_flow.filters.active import ActiveFilter, build_active_filter
from boom_flow.filters.documents import Programids, server_prefix
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.storage.known import load_known
from boom_flow.surveys import build_survey
from tests.pipeline.conftest import ztf_packet_bytes

REAL_FILTERS = ("fast.json", "cats150.pipeline.json", "lsst.json")


def real_pipeline(shared: Path, name: str) -> list[dict[str, Any]]:
    return json.loads((shared / "filters" / name).read_text())


def ztf_packets(shared: Path) -> list[RawPacket]:
    return [RawPacket(data, source) for source, data in ztf_packet_bytes(shared)]


def lsst_packets(shared: Path) -> list[RawPacket]:
    folders = ("wire_format", "or4_comcamsim_v7_1")
    return [RawPacket(p.read_bytes(), str(p)) for folder in folders
            for p in sorted((shared / "lsst" / folder).glob("*.avro"))]


def decoder(survey: str, shared: Path) -> Any:
    if survey == "lsst":
        return build_survey("lsst", schema_dir=str(shared / "lsst" / "schema"))
    return build_survey("ztf")


def ingest(db: Database, survey: str, shared: Path, packets: Sequence[RawPacket],
           batch_size: int, before_write: Callable[[AlertBatch], AlertBatch] | None = None,
           after_write: Callable[[AlertBatch], None] | None = None) -> list[AlertBatch]:
    """Decode, load what is known, (run ``before_write``), write, (``after_write``):
    batch after batch, as the pipeline does."""
    ensure_indexes(db, survey.upper())
    survey_decoder = decoder(survey, shared)
    batches = []
    for start in range(0, len(packets), batch_size):
        batch = load_known(db, survey_decoder.decode(packets[start:start + batch_size]))
        if before_write is not None:
            batch = before_write(batch)
        write_batch(db, batch)
        if after_write is not None:
            after_write(batch)
        batches.append(batch)
    return batches


def filter_document(filter_id: str, pipeline: list[dict[str, Any]], survey: str = "ZTF",
                    programids: Iterable[int] = (1, 2, 3), name: str | None = None
                    ) -> dict[str, Any]:
    """A ``filters`` document with one live version."""
    permissions = {"ZTF": list(programids)} if survey.upper() == "ZTF" else {}
    return {"_id": filter_id, "name": name or filter_id, "survey": survey.upper(),
            "permissions": permissions, "active": True, "active_fid": f"{filter_id}-v1",
            "fv": [{"fid": f"{filter_id}-v1", "pipeline": pipeline}]}


def active(filter_id: str, pipeline: list[dict[str, Any]], survey: str = "ZTF",
           programids: Iterable[int] = (1, 2, 3)) -> ActiveFilter:
    return build_active_filter(filter_document(filter_id, pipeline, survey, programids))


def server_results(db: Database, survey: str, pipeline: list[dict[str, Any]],
                   programids: Programids, ids: Sequence[Any] | None = None
                   ) -> dict[Any, dict[str, Any]]:
    """What the MongoDB-compatible server returns for ``pipeline`` over the stored
    alerts (all of them unless ``ids``), keyed by alert id."""
    alerts = db[f"{survey.upper()}_alerts"]
    if ids is None:
        ids = [d["_id"] for d in alerts.find({}, {"_id": 1})]
    prefix = server_prefix(survey, ids, programids)
    return {d["_id"]: d for d in alerts.aggregate(prefix + pipeline)}


def with_forced_programids(batch: AlertBatch) -> AlertBatch:
    """``tests.storage.helpers``' forced points carry no programid; give them their
    epoch's (epochs 2, 5, 8... are programid 2)."""
    if not len(batch.fp_hists):
        return batch
    fp = batch.fp_hists.copy()
    fp["programid"] = pd.array([1 + (round(j - 2460000.5) % 3 == 2) for j in fp["jd"]],
                               dtype="int64[pyarrow]")
    return replace(batch, fp_hists=fp)
