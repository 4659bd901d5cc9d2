"""``{S}_alerts_aux``: merging a batch's light-curve points into one document per object.

One ``find`` learns, for every object of the batch, which ``jd`` each history array
already holds; the batch's points are deduplicated against that (and among
themselves) with pandas, and only what is new travels back, as ``$push`` with
``$each``: a long history is never rewritten. ``$sort`` is added only when a new
point is older than the newest stored one, so the usual case (a new detection at
the end of the light curve) appends.

Which version of a point wins. The same epoch reaches the archive twice: as an
alert's own ``candidate`` and, later, as an entry of another alert's history. For
ZTF the two differ (the history entry has ~60 of the candidate's ~110 fields and
rounded values), so "first stored wins" would make the archive depend on arrival
order. Rule: a point derived from an alert's candidate replaces a stored point of
the same ``jd`` that has fewer fields; history entries never replace anything. The
read therefore also returns the field count of each stored ``prv_candidates`` point
(a ``$map``/``$objectToArray`` projection), and a replacement rewrites that element
only (``$set`` with ``arrayFilters``). Whatever the order, the archive ends with the
candidate's version of every alerted epoch and the history version of the others.

The first plan needs no read at all when the batch already holds its objects' aux
documents (``AlertBatch.known``, read before the stages ran): what they say is
stored is exactly what the projection would return, and the guards below catch
whatever changed since. The projected read is not free on the server: it walks
every stored point (``$objectToArray`` of ~100 fields each), a cost that grows with
every night of the same objects.

Concurrency. Two workers may write the same object at once (a replay with several
batches in flight). Every ``$push`` carries a guard in its filter (none of the new
``jd`` is there yet, or no stored point is at or after the first new one), and a
new object is created by a ``$setOnInsert`` upsert. If a guard fails or an upsert
finds the document already created, the whole merge is planned again from a fresh
read (which finds nothing left to do for what did get written), a few times at most.
Only then is there a second read for a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from boom_flow.core.history import HISTORY_KINDS, NO_POINT_ID, POINT_ID_FIELDS, point_id
from boom_flow.storage.points import CANDIDATE, KEY, IncomingPoints, Point

#: Planning again after a concurrent writer got in the way: this many times at most.
MAX_ATTEMPTS = 5
DUPLICATE_KEY = 11000

#: What the one read returns: ``[jd, number of fields, candid, diaSourceId]`` per
#: stored ``prv_candidates`` point (to know whether a candidate's version is already
#: there; two detections of one ``jd`` differ by their id) and the bare ``jd`` of the
#: other arrays.
READ_PROJECTION: dict[str, Any] = {
    "prv_candidates": {"$map": {
        "input": {"$ifNull": ["$prv_candidates", []]}, "as": "p",
        "in": ["$$p.jd", {"$size": {"$objectToArray": "$$p"}},
               *(f"$$p.{name}" for name in POINT_ID_FIELDS)],
    }},
    "prv_nondetections.jd": 1,
    "fp_hists.jd": 1,
}

StoredPoints = pd.DataFrame  # columns: array, objectId, jd, point, stored_fields


class AuxConflictError(RuntimeError):
    """Concurrent writers kept changing the same objects; the batch should be retried."""


def read_stored(collection: Collection, object_ids: Sequence[Any]
                ) -> tuple[set[Any], StoredPoints]:
    """The one read of a batch: which of ``object_ids`` exist, and their stored points."""
    existing: set[Any] = set()
    rows: list[tuple[str, Any, float, int, int]] = []
    # One reply for the whole batch (the default first batch is 101 documents).
    cursor = collection.find({"_id": {"$in": list(object_ids)}}, READ_PROJECTION,
                             batch_size=len(object_ids) + 1)
    for doc in cursor:
        oid = doc["_id"]
        existing.add(oid)
        for pair in doc.get("prv_candidates") or ():
            if pair and isinstance(pair[0], int | float):
                ids = {name: value for name, value in zip(POINT_ID_FIELDS, pair[2:],
                                                           strict=False)}
                rows.append(("prv_candidates", oid, float(pair[0]), point_id(ids),
                             int(pair[1])))
        _other_points(doc, rows)
    return existing, _stored_table(rows)


def stored_in(documents: Sequence[Mapping[str, Any]]) -> tuple[set[Any], StoredPoints]:
    """What ``read_stored`` would return, from the aux documents themselves (the ones
    a batch was given by ``load_known``): no round trip, no work on the server."""
    existing: set[Any] = set()
    rows: list[tuple[str, Any, float, int, int]] = []
    for doc in documents:
        oid = doc["_id"]
        existing.add(oid)
        for point in doc.get("prv_candidates") or ():
            jd = point.get("jd") if isinstance(point, dict) else None
            if isinstance(jd, int | float):
                rows.append(("prv_candidates", oid, float(jd), point_id(point), len(point)))
        _other_points(doc, rows)
    return existing, _stored_table(rows)


def _other_points(doc: Mapping[str, Any], rows: list[tuple[str, Any, float, int, int]]
                  ) -> None:
    for array in HISTORY_KINDS[1:]:
        for point in doc.get(array) or ():
            jd = point.get("jd") if isinstance(point, dict) else None
            if isinstance(jd, int | float):
                rows.append((array, doc["_id"], float(jd), NO_POINT_ID, 0))


def _stored_table(rows: list[tuple[str, Any, float, int, int]]) -> StoredPoints:
    stored = pd.DataFrame(rows, columns=[*KEY, "stored_fields"])
    # Typed even when empty, so that merging with the batch's points never fails on dtypes.
    return stored.astype({"array": object, "objectId": object, "jd": np.float64,
                          "point": np.int64, "stored_fields": np.int64})


@dataclass
class AuxPlan:
    """The aux operations of one attempt, and what each will add."""

    ops: list[UpdateOne] = field(default_factory=list)
    creations: list[int] = field(default_factory=list)
    added: set[tuple[str, Any, float, int]] = field(default_factory=set)
    replaced: set[tuple[Any, float, int]] = field(default_factory=set)
    updated: set[Any] = field(default_factory=set)


def plan_updates(incoming: IncomingPoints, existing: set[Any], stored: StoredPoints,
                 creation: Mapping[Any, dict[str, Any]], now: float,
                 always_sort: bool = False) -> AuxPlan:
    """The operations that bring the archive to hold ``incoming`` (given what it holds)."""
    index = incoming.index.merge(stored, on=KEY, how="left")
    stored_fields = index["stored_fields"].to_numpy(dtype=np.float64, na_value=np.nan)
    new = np.isnan(stored_fields)
    richer = (~new & (index["kind"].to_numpy() == CANDIDATE)
              & (index["fields"].to_numpy() > np.nan_to_num(stored_fields)))
    index["replace"] = richer
    selected = index[new | richer].reset_index(drop=True)
    plan = AuxPlan()
    if not len(selected):
        return plan
    selected = selected.sort_values(["objectId", "array", "jd"], kind="stable")
    # Plain lists from here on: per-object pandas calls would cost ~2 ms an object.
    per_object: dict[Any, tuple[dict[str, list[Point]], list[Point]]] = {}
    for oid, array, jd, swap, point in zip(
            selected["objectId"].tolist(), selected["array"].tolist(), selected["jd"].tolist(),
            selected["replace"].tolist(), incoming.points(selected), strict=True):
        additions, replacements = per_object.setdefault(oid, ({}, []))
        if swap:
            replacements.append((jd, point))
        else:
            additions.setdefault(array, []).append((jd, point))
    newest = stored.groupby(["objectId", "array"])["jd"].max().to_dict() if len(stored) else {}
    for oid, (additions, replacements) in per_object.items():
        if oid in existing:
            _plan_existing(plan, oid, additions, replacements, newest, now, always_sort)
        else:
            _plan_creation(plan, oid, additions, creation.get(oid, {}), now)
    return plan


def _plan_creation(plan: AuxPlan, oid: Hashable, additions: Mapping[str, list[Point]],
                   extras: Mapping[str, Any], now: float) -> None:
    doc: dict[str, Any] = {}
    for array in HISTORY_KINDS:
        points = additions.get(array, [])
        doc[array] = [point for _, point in points]
        plan.added.update((array, oid, jd, _point(array, point)) for jd, point in points)
    doc.update(extras)
    doc["created_at"] = now
    doc["updated_at"] = now
    plan.creations.append(len(plan.ops))
    plan.ops.append(UpdateOne({"_id": oid}, {"$setOnInsert": doc}, upsert=True))


def _plan_existing(plan: AuxPlan, oid: Hashable, additions: Mapping[str, list[Point]],
                   replacements: list[Point], newest: Mapping[tuple[Any, str], float],
                   now: float, always_sort: bool) -> None:
    guard: dict[str, Any] = {"_id": oid}
    push: dict[str, Any] = {}
    for array, points in additions.items():
        jds = [jd for jd, _ in points]
        latest = newest.get((oid, array))
        if not always_sort and (latest is None or jds[0] > latest):
            # Appending keeps the order: no $sort, so the server rewrites nothing.
            push[array] = {"$each": [point for _, point in points]}
            guard[f"{array}.jd"] = {"$not": {"$gte": jds[0]}}
        else:
            push[array] = {"$each": [point for _, point in points], "$sort": {"jd": 1}}
            guard.update(_absent(array, points))
        plan.added.update((array, oid, jd, _point(array, point)) for jd, point in points)
    if push:
        plan.ops.append(UpdateOne(guard, {"$push": push, "$set": {"updated_at": now}}))
    if replacements:
        update: dict[str, Any] = {"updated_at": now}
        filters = []
        for number, (jd, point) in enumerate(replacements):
            update[f"prv_candidates.$[p{number}]"] = point
            which = {f"p{number}.jd": jd}
            field = _id_field(point)
            if field is not None:
                which[f"p{number}.{field}"] = point[field]
            filters.append(which)
            plan.replaced.add((oid, jd, point_id(point)))
        # A separate operation: MongoDB refuses $push and $set on the same array at once.
        plan.ops.append(UpdateOne({"_id": oid}, {"$set": update}, array_filters=filters))
    plan.updated.add(oid)


def _point(array: str, point: Mapping[str, Any]) -> int:
    return point_id(point) if array == "prv_candidates" else NO_POINT_ID


def _id_field(point: Mapping[str, Any]) -> str | None:
    """The field that holds a detection's id (None: a point without one)."""
    return next((name for name in POINT_ID_FIELDS
                 if isinstance(point.get(name), int) and not isinstance(point.get(name), bool)),
                None)


def _absent(array: str, points: list[Point]) -> dict[str, Any]:
    """The guard that none of ``points`` is stored yet: by their ids where they have
    one (a second detection of a stored ``jd`` is new), else by their ``jd``."""
    by_id: dict[str, list[int]] = {}
    bare: list[float] = []
    for jd, point in points:
        field = _id_field(point) if array == "prv_candidates" else None
        if field is None:
            bare.append(jd)
        else:
            by_id.setdefault(field, []).append(point[field])
    guard: dict[str, Any] = {f"{array}.{field}": {"$nin": ids} for field, ids in by_id.items()}
    if bare:
        guard[f"{array}.jd"] = {"$nin": bare}
    return guard


@dataclass(frozen=True)
class AuxCounts:
    created: int = 0
    updated: int = 0
    added: int = 0
    replaced: int = 0
    attempts: int = 0


def _execute(collection: Collection, plan: AuxPlan) -> tuple[bool, int]:
    """Run the plan in one unordered bulk write; True when every operation did what
    the plan expected (no guard failed, every new object was created here)."""
    try:
        result = collection.bulk_write(plan.ops, ordered=False).bulk_api_result
    except BulkWriteError as error:
        if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", ())):
            raise
        # Another writer created one of the new objects first: plan again.
        result = error.details
    upserted = {item["index"] for item in result.get("upserted", ())}
    expected_matches = len(plan.ops) - len(plan.creations)
    done = upserted == set(plan.creations) and result.get("nMatched", 0) == expected_matches
    return done, len(upserted)


def merge_histories(collection: Collection, incoming: IncomingPoints,
                    creation: Mapping[Any, dict[str, Any]], now: float,
                    reader: Callable[..., tuple[set[Any], StoredPoints]] | None = None,
                    always_sort: bool = False,
                    known: Sequence[Mapping[str, Any]] | None = None) -> AuxCounts:
    """Bring every object of ``incoming`` up to date: one read and one bulk write,
    again from a fresh read only if a concurrent writer interfered.

    ``known``: the objects' aux documents as the batch read them (every stored one
    of its objects, whole): the first plan is made from them instead of a read.

    ``always_sort`` adds ``$sort`` to every ``$push``: same result, a whole-array
    oplog entry per update on MongoDB, but twice as fast on SecantusDB, whose
    element-wise oplog diff of a plain append is slow (a server quirk, for
    configuration to decide; never detected here)."""
    objects = list(dict.fromkeys(incoming.index["objectId"].tolist()))
    if not objects:
        return AuxCounts()
    read = reader or read_stored
    added: set[tuple[str, Any, float, int]] = set()
    replaced: set[tuple[Any, float, int]] = set()
    updated: set[Any] = set()
    created = reads = 0
    for attempt in range(MAX_ATTEMPTS):
        if attempt == 0 and known is not None:
            existing, stored = stored_in(known)
        else:
            reads += 1
            existing, stored = read(collection, objects)
        plan = plan_updates(incoming, existing, stored, creation, now, always_sort)
        if not plan.ops:
            break
        done, new_objects = _execute(collection, plan)
        created += new_objects
        added |= plan.added
        replaced |= plan.replaced
        updated |= plan.updated
        if done:
            break
    else:
        raise AuxConflictError(f"{collection.name}: objects kept changing under "
                               f"{MAX_ATTEMPTS} attempts to merge the batch's histories")
    return AuxCounts(created=created, updated=len(updated), added=len(added),
                     replaced=len(replaced), attempts=reads)
