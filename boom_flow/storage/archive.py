"""The MongoDB archive writer: one ``AlertBatch`` -> the survey's collections.

Collections (``data-model.md``, BOOM's layout), for a survey ``S``:

- ``{S}_alerts``: one document per alert (``candidate``, ``coordinates``, the per-alert
  enrichments such as ``classifications`` and ``properties``);
- ``{S}_alerts_cutouts``: the three stamps of an alert, as BSON binary;
- ``{S}_alerts_aux``: one document per object, its light curve merged batch after
  batch (see ``history.py``);
- ``{S}_alerts_rejected``: the packets that could not be used, whole, with the reason.

Costs per batch: at most one read (``{S}_alerts_aux``, to learn what the archive
holds of the batch's objects) and one unordered ``bulk_write`` per collection; never
a round trip per alert. (pymongo itself splits a bulk larger than the server's
48 MB message limit into several commands: a batch of ~600+ ZTF alerts with their
cutouts.)

Idempotent: alerts, cutouts and rejections are inserted, and one already stored is
left as it is (its duplicate key is the "already there" answer); new objects are
created by ``$setOnInsert`` upserts and history points are pushed only when new. So
re-processing a batch after a crash or a replay changes nothing, not even
``updated_at``.

Decisions:
- Non-finite floats are stored as null (``documents.py`` says why).
- A rejected packet's ``_id`` is the SHA-256 of its source, position and bytes: a
  redelivered bad packet is stored once, and the same bytes met at another place
  (another file, another offset) are a rejection of their own. Its document records
  ``length`` and ``sha256`` of the whole packet; ``data`` holds it whole up to
  ``MAX_STORED_REJECTION_BYTES``, its start beyond (``truncated: true``), so that no
  packet, whatever its size, can make the write fail (MongoDB's 16 MB limit).
- Enrichments go into the alert document under their own name, except
  ``cross_matches`` and ``aliases``, which describe the object and are written to the
  aux document when the object is created; names starting with ``_`` are private
  to the pipeline and not stored. A None (or NaN) value means "absent": the field
  is left out, as the data model says of ``classifications``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from pymongo import ASCENDING, GEOSPHERE, IndexModel, InsertOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, OperationFailure

from boom_flow.core.batch import CUTOUTS, AlertBatch, Rejection
from boom_flow.crossmatch.sky import healpix
from boom_flow.storage.documents import (
    clean_value,
    column_values,
    distinct_alerts,
    jd_now,
    stored_positions,
)
from boom_flow.storage.history import DUPLICATE_KEY, merge_histories
from boom_flow.storage.points import batch_points

#: Enrichments that describe the object, not the alert: written once, to the aux doc.
OBJECT_ENRICHMENTS = ("cross_matches", "aliases")
#: The aux ``coordinates`` also hold the object's nested HEALPix pixel at this order
#: (~13" pixels), indexed: the other survey finds its aliases among the objects of a
#: batch's pixels and their neighbours with one ``$in`` query (``storage.aliases``).
AUX_PIXEL_ORDER = 14
AUX_PIXEL_FIELD = "healpix_14"
#: Fields of an alert document that no enrichment may overwrite.
RESERVED_FIELDS = frozenset({"_id", "objectId", "ssObjectId", "candidate", "coordinates",
                             "created_at", "updated_at"})
#: The most bytes of a rejected packet stored in its document.
MAX_STORED_REJECTION_BYTES = 2**20

Keys = tuple[tuple[str, Any], ...]
_GEO_AND_ID: Keys = (("coordinates.radec_geojson", GEOSPHERE), ("_id", ASCENDING))
#: Indexes per collection suffix (``data-model.md``).
INDEXES: dict[str, tuple[Keys, ...]] = {
    "alerts": (_GEO_AND_ID, (("objectId", ASCENDING),), (("candidate.jd", ASCENDING),)),
    "alerts_aux": (_GEO_AND_ID, ((f"coordinates.{AUX_PIXEL_FIELD}", ASCENDING),)),
    "alerts_rejected": ((("received_at", ASCENDING),),),
}
#: Survey-specific ones: ZTF's data rights are checked on every query by programid.
SURVEY_INDEXES: dict[str, dict[str, tuple[Keys, ...]]] = {
    "ZTF": {"alerts": ((("candidate.programid", ASCENDING), ("candidate.jd", ASCENDING)),)},
    # Solar-system sources without a diaObjectId have no aux document: their alerts are
    # found by ssObjectId.
    "LSST": {"alerts": ((("ssObjectId", ASCENDING), ("candidate.jd", ASCENDING)),)},
}


@dataclass(frozen=True)
class WriteSummary:
    """What one ``write_batch`` did (the pipeline adds these up into its counters)."""

    alerts_inserted: int = 0
    #: Alerts already in the archive (a replay, a redelivery): left untouched.
    alerts_existing: int = 0
    #: Alerts whose id came earlier in the same batch (a packet delivered twice):
    #: written once, counted here so that every alert of a batch is accounted for.
    alerts_repeated: int = 0
    objects_created: int = 0
    #: Existing objects that got new history points or a richer version of one.
    objects_updated: int = 0
    #: History points written (new objects' points included).
    points_added: int = 0
    #: Stored history points replaced by the alert's own candidate version.
    points_replaced: int = 0
    cutouts_inserted: int = 0
    #: Rejections in the batch (each stored once, whatever the number of passes).
    rejected: int = 0
    rejected_inserted: int = 0
    #: Reads of the aux collection: 1 (0 when the batch brought its aux documents from
    #: ``load_known``), more only when concurrent writers interfered.
    aux_reads: int = 0

    def __add__(self, other: WriteSummary) -> WriteSummary:
        return WriteSummary(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                               for f in fields(self)})


def collection_names(survey: str) -> dict[str, str]:
    """``{"alerts": "ZTF_alerts", ...}`` for a survey name in any case."""
    prefix = survey.upper()
    return {suffix: f"{prefix}_{suffix}"
            for suffix in ("alerts", "alerts_aux", "alerts_cutouts", "alerts_rejected")}


def ensure_indexes(db: Database, survey: str) -> None:
    """Create the archive's indexes for ``survey`` if missing (safe to call at every
    start). Existing indexes are compared by key pattern and not requested again:
    some servers (SecantusDB) refuse an identical ``createIndexes`` that MongoDB
    would accept as a no-op."""
    names = collection_names(survey)
    extra = SURVEY_INDEXES.get(survey.upper(), {})
    for suffix, wanted in INDEXES.items():
        collection = db[names[suffix]]
        for keys in (*wanted, *extra.get(suffix, ())):
            if keys in _index_keys(collection):
                continue
            try:
                collection.create_indexes([IndexModel(list(keys))])
            except OperationFailure as error:
                # Another process starting at the same moment created it first.
                if error.code not in _INDEX_CONFLICTS or keys not in _index_keys(collection):
                    raise


#: IndexOptionsConflict, IndexKeySpecsConflict.
_INDEX_CONFLICTS = (85, 86)


def _index_keys(collection: Collection) -> set[tuple[Any, ...]]:
    return {tuple(index["key"].items()) for index in collection.list_indexes()}


def count_rejected(db: Database, survey: str) -> int:
    """How many distinct rejected packets the archive holds for ``survey``."""
    return db[collection_names(survey)["alerts_rejected"]].count_documents({})


def write_batch(db: Database, batch: AlertBatch, now_jd: float | None = None, *,
                always_sort: bool = False) -> WriteSummary:
    """Store ``batch`` in the survey's collections; idempotent.

    Written in this order so that an alert document, once visible, has its cutouts and
    its object's history in place: cutouts, aux, alerts, rejected. ``now_jd`` (JD) is
    the ``created_at``/``updated_at`` of what this call writes (now by default).
    ``always_sort``: re-sort on every history ``$push``, not only when an older point
    arrives (see ``history.merge_histories``: a configuration choice for SecantusDB).
    """
    now = jd_now() if now_jd is None else float(now_jd)
    names = collection_names(batch.survey)
    _check_enrichments(batch.enrichments)
    distinct = distinct_alerts(batch)
    keep, alerts, candidates, places = (distinct.rows, distinct.alerts, distinct.candidates,
                                        distinct.places)
    ids, object_ids, jd = distinct.ids, distinct.object_ids, distinct.jd
    enrichments = {name: _take(values.tolist(), keep)
                   for name, values in batch.enrichments.items() if not name.startswith("_")}

    cutouts_inserted, _ = _insert(db[names["alerts_cutouts"]], _cutout_ops(batch.cutouts))
    incoming = batch_points(batch)
    creation = _object_creation(object_ids, jd, places, enrichments)
    aux = merge_histories(db[names["alerts_aux"]], incoming, creation, now,
                          always_sort=always_sort, known=known_documents(batch))
    alert_ops = _alert_ops(ids, object_ids, column_values(alerts, "ssObjectId"), candidates,
                           places, enrichments, now)
    alerts_inserted, alerts_existing = _insert(db[names["alerts"]], alert_ops)
    rejected_inserted, _ = _insert(db[names["alerts_rejected"]],
                                   [_rejection_op(r, now) for r in batch.rejected])
    return WriteSummary(
        alerts_inserted=alerts_inserted, alerts_existing=alerts_existing,
        alerts_repeated=distinct.repeated,
        objects_created=aux.created, objects_updated=aux.updated, points_added=aux.added,
        points_replaced=aux.replaced, cutouts_inserted=cutouts_inserted,
        rejected=len(batch.rejected), rejected_inserted=rejected_inserted,
        aux_reads=aux.attempts,
    )


def known_documents(batch: AlertBatch) -> tuple[dict[str, Any], ...] | None:
    """The batch's aux documents as ``load_known`` read them, when they are whole (one
    per known object, every history array): the writer then plans from them rather
    than reading the archive again. None otherwise (a batch built without them)."""
    known = batch.known
    if known is None or len(known.documents) != len(known.objects):
        return None
    return known.documents


def _check_enrichments(enrichments: Mapping[str, pd.Series]) -> None:
    clashes = sorted(RESERVED_FIELDS & set(enrichments))
    if clashes:
        raise ValueError(f"enrichments may not replace alert fields: {', '.join(clashes)}")


def _take(values: list[Any], positions: np.ndarray) -> list[Any]:
    return [values[i] for i in positions.tolist()]


def _alert_ops(ids: Sequence[Any], object_ids: Sequence[Any], ss_object_ids: Sequence[Any],
               candidates: Sequence[dict[str, Any]], places: Sequence[dict[str, Any] | None],
               enrichments: Mapping[str, Sequence[Any]], now: float) -> list[InsertOne]:
    per_alert = {name: values for name, values in enrichments.items()
                 if name not in OBJECT_ENRICHMENTS}
    ops = []
    for i, alert_id in enumerate(ids):
        doc: dict[str, Any] = {"objectId": object_ids[i]}
        if ss_object_ids[i] is not None:
            doc["ssObjectId"] = ss_object_ids[i]
        doc["candidate"] = candidates[i]
        if places[i] is not None:
            doc["coordinates"] = places[i]
        for name, values in per_alert.items():
            value = clean_value(values[i])
            if value is not None:
                doc[name] = value
        doc["created_at"] = now
        doc["updated_at"] = now
        ops.append(InsertOne({"_id": alert_id, **doc}))
    return ops


def _object_creation(object_ids: Sequence[Any], jd: np.ndarray,
                     places: Sequence[dict[str, Any] | None],
                     enrichments: Mapping[str, Sequence[Any]]) -> dict[Any, dict[str, Any]]:
    """What a new aux document gets besides its history, from the object's earliest
    alert in the batch (so the choice does not depend on the order of the rows)."""
    frame = pd.DataFrame({"objectId": pd.Series(object_ids, dtype=object),
                          "jd": np.where(np.isfinite(jd), jd, np.inf)})
    frame = frame[frame["objectId"].notna()]
    if not len(frame):
        return {}
    first = frame.groupby("objectId", sort=False)["jd"].idxmin()
    creation: dict[Any, dict[str, Any]] = {}
    for oid, row in first.items():
        extras: dict[str, Any] = {}
        for name in OBJECT_ENRICHMENTS:
            value = clean_value(enrichments[name][row]) if name in enrichments else None
            if value is not None:
                extras[name] = value
        if places[row] is not None:
            extras["coordinates"] = places[row]
        creation[oid] = extras
    return _with_pixels(creation)


def _with_pixels(creation: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """New aux documents' ``coordinates`` with ``AUX_PIXEL_FIELD`` (copies: the alert
    documents share the original dicts)."""
    placed = [extras for extras in creation.values() if "coordinates" in extras]
    if not placed:
        return creation
    for extras, pixel in zip(placed, healpix(*stored_positions(placed), AUX_PIXEL_ORDER).tolist(),
                             strict=True):
        extras["coordinates"] = {**extras["coordinates"], AUX_PIXEL_FIELD: pixel}
    return creation


def _cutout_ops(cutouts: pd.DataFrame) -> list[InsertOne]:
    """One document per alert with stamps (bytes become BSON binary subtype 0); an
    alert without any stamp gets none."""
    if not len(cutouts) or "_id" not in cutouts.columns:
        return []
    columns = {name: column_values(cutouts, name) for name in CUTOUTS}
    ops = []
    seen: set[Any] = set()
    for i, alert_id in enumerate(column_values(cutouts, "_id")):
        stamps = {name: columns[name][i] for name in CUTOUTS}
        if alert_id is None or alert_id in seen or all(v is None for v in stamps.values()):
            continue
        seen.add(alert_id)
        ops.append(InsertOne({"_id": alert_id, **stamps}))
    return ops


def rejection_id(rejection: Rejection) -> str:
    """Stable ``_id`` of a rejected packet: SHA-256 of source, position and bytes
    (lengths included, so that no two different triples hash the same text)."""
    digest = hashlib.sha256()
    for part in (rejection.source.encode(), rejection.position.encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    if rejection.sha256 is None:
        digest.update(rejection.data)
    else:  # cut at the source: the whole packet is known by its hash and length
        digest.update(f"{rejection.length}:{rejection.sha256}".encode())
    return digest.hexdigest()


def rejection_document(rejection: Rejection, now: float) -> dict[str, Any]:
    """What is stored of a rejected packet (without its ``_id``)."""
    data = rejection.data
    length = len(data) if rejection.length is None else rejection.length
    sha256 = rejection.sha256 or hashlib.sha256(data).hexdigest()
    kept = data[:MAX_STORED_REJECTION_BYTES]
    return {"reason": rejection.reason, "source": rejection.source,
            "position": rejection.position, "data": kept, "length": length,
            "sha256": sha256, "truncated": len(kept) < length, "received_at": now}


def _rejection_op(rejection: Rejection, now: float) -> InsertOne:
    return InsertOne({"_id": rejection_id(rejection), **rejection_document(rejection, now)})


def _insert(collection: Collection, ops: list[InsertOne]) -> tuple[int, int]:
    """One unordered bulk of inserts -> (inserted, already present).

    A document whose ``_id`` is stored already fails with a duplicate key and is left
    as stored: the archive keeps the first version (a ``$setOnInsert`` upsert would do
    the same, at about twice the server's CPU per document on SecantusDB).
    """
    if not ops:
        return 0, 0
    try:
        result = collection.bulk_write(ops, ordered=False).bulk_api_result
    except BulkWriteError as error:
        if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", ())):
            raise
        result = error.details
    inserted = result.get("nInserted", 0)
    return inserted, len(ops) - inserted
