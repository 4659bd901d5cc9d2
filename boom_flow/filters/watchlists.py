"""Watchlists: a user's named positions, each with a radius, that filters can refer to.

A user uploads a list of targets (CSV with a header ``name,ra,dec,radius`` or JSON: a
list of ``{name, ra, dec, radius}``, or ``{"targets": [...]}``; ``radius`` in arcsec,
``radius_arcsec`` accepted too). An upload is checked whole: every bad row is named with
its reason and nothing is stored, so a list is never half there.

A filter with a ``watchlist_id`` runs on the alerts within a target's radius only; its
documents carry ``watchlist: [{name, distance_arcsec}]`` (nearest first), and so does the
result's ``annotations.watchlist``. The matching is one ball query of the batch's
positions against a KD-tree of the targets (``crossmatch.sky.pairs_within``) per
watchlist per batch, never a query per alert.

Collection ``watchlists``: ``{_id (uuid), name, user_id, targets: [{name, ra, dec,
radius_arcsec}], created_at, updated_at}``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from boom_flow.crossmatch.sky import pairs_within, unit_vectors

if TYPE_CHECKING:  # live filters import this module: no database client at import
    from pymongo.database import Database

COLLECTION = "watchlists"
#: The largest radius a target may have (arcsec): a watchlist is not a survey footprint.
MAX_RADIUS_ARCSEC = 3600.0
MAX_TARGETS = 100_000
#: Reasons shown at most, for an upload with many bad rows (the count says the rest).
MAX_REASONS = 20

Matches = list[dict[str, Any]]


class WatchlistError(ValueError):
    """An upload that cannot be stored: every problem found, with its row."""


def parse_targets(data: str | bytes, fmt: str | None = None) -> list[dict[str, Any]]:
    """The targets of a CSV or JSON upload (``fmt``: ``csv`` or ``json``; guessed from the
    first character when None), checked: ``WatchlistError`` lists every bad row."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    kind = (fmt or ("json" if text.lstrip()[:1] in ("[", "{") else "csv")).lower()
    if kind == "json":
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            raise WatchlistError(f"not valid JSON: {error}") from None
        rows = parsed.get("targets") if isinstance(parsed, Mapping) else parsed
        if not isinstance(rows, list):
            raise WatchlistError('JSON must be a list of targets or {"targets": [...]}')
        start = 0
    elif kind == "csv":
        reader = csv.DictReader(io.StringIO(text))
        missing = {"name", "ra", "dec"} - set(reader.fieldnames or ())
        if missing or not {"radius", "radius_arcsec"} & set(reader.fieldnames or ()):
            raise WatchlistError("the CSV header must name the columns name, ra, dec and "
                                 f"radius (arcsec); found: {', '.join(reader.fieldnames or [])}")
        rows, start = list(reader), 1  # row numbers as a spreadsheet shows them
    else:
        raise WatchlistError(f"unknown format {fmt!r}: csv or json")
    return check_targets(rows, first_row=start + 1)


def _target(row: Any) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise ValueError("not an object with name, ra, dec, radius")
    name = str(row.get("name") or "").strip()
    if not name:
        raise ValueError("no name")
    values = {}
    for key in ("ra", "dec", "radius"):
        raw = row.get(key, row.get("radius_arcsec") if key == "radius" else None)
        try:
            values[key] = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{key} {raw!r} is not a number") from None
        if not math.isfinite(values[key]):
            raise ValueError(f"{key} is not finite")
    if not 0.0 <= values["ra"] <= 360.0 or not -90.0 <= values["dec"] <= 90.0:
        raise ValueError("ra must be in [0, 360] and dec in [-90, 90] (degrees)")
    if not 0.0 < values["radius"] <= MAX_RADIUS_ARCSEC:
        raise ValueError(f"radius must be in (0, {MAX_RADIUS_ARCSEC:g}] arcsec")
    return {"name": name, "ra": values["ra"], "dec": values["dec"],
            "radius_arcsec": values["radius"]}


def check_targets(rows: Sequence[Any], first_row: int = 1) -> list[dict[str, Any]]:
    """``rows`` as stored targets, or ``WatchlistError`` naming every bad one."""
    if not rows:
        raise WatchlistError("the watchlist has no target")
    if len(rows) > MAX_TARGETS:
        raise WatchlistError(f"{len(rows):,} targets: at most {MAX_TARGETS:,} per watchlist")
    targets, problems = [], []
    for number, row in enumerate(rows, start=first_row):
        try:
            targets.append(_target(row))
        except ValueError as error:
            problems.append(f"row {number}: {error}")
    if problems:
        shown = "; ".join(problems[:MAX_REASONS])
        more = f" (and {len(problems) - MAX_REASONS} more)" if len(problems) > MAX_REASONS else ""
        raise WatchlistError(f"{len(problems)} of {len(rows)} targets refused, nothing "
                             f"stored: {shown}{more}")
    return targets


@dataclass(frozen=True, eq=False)
class Watchlist:
    """A stored watchlist ready to match positions (its KD-tree built on first use)."""

    watchlist_id: str
    names: tuple[str, ...]
    ra: np.ndarray
    dec: np.ndarray
    radius_arcsec: np.ndarray
    _tree: list[Any] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> Watchlist:
        targets = document.get("targets") or ()
        return cls(str(document["_id"]), tuple(t["name"] for t in targets),
                   np.array([t["ra"] for t in targets], dtype=np.float64),
                   np.array([t["dec"] for t in targets], dtype=np.float64),
                   np.array([t["radius_arcsec"] for t in targets], dtype=np.float64))

    def match(self, ra: np.ndarray, dec: np.ndarray) -> list[Matches | None]:
        """Per position, the targets within their radius, nearest first (None: none)."""
        out: list[Matches | None] = [None] * len(ra)
        ok = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
        if not len(self.names) or not len(ok):
            return out
        if not self._tree:
            from scipy.spatial import cKDTree

            self._tree.append(cKDTree(unit_vectors(self.ra, self.dec)))
        owners, rows, separations = pairs_within(
            self._tree[0], unit_vectors(ra[ok], dec[ok]), float(self.radius_arcsec.max()))
        keep = separations <= self.radius_arcsec[rows]
        owners, rows, separations = owners[keep], rows[keep], separations[keep]
        for i in np.lexsort((rows, separations, owners)).tolist():
            slot = int(ok[owners[i]])
            if out[slot] is None:
                out[slot] = []
            out[slot].append({"name": self.names[rows[i]],
                              "distance_arcsec": float(separations[i])})
        return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WatchlistStore:
    """Users' watchlists, in the archive database."""

    def __init__(self, db: Database) -> None:
        self.collection = db[COLLECTION]

    def create(self, *, name: str, user_id: str, targets: Sequence[Any]) -> dict[str, Any]:
        if not str(name).strip():
            raise WatchlistError("a watchlist needs a name")
        checked = check_targets(targets)
        now = _now()
        document = {"_id": str(uuid.uuid4()), "name": str(name), "user_id": str(user_id),
                    "targets": checked, "created_at": now, "updated_at": now}
        self.collection.create_index([("user_id", 1)])
        self.collection.insert_one(document)
        return document

    def get(self, watchlist_id: str) -> dict[str, Any] | None:
        return self.collection.find_one({"_id": watchlist_id})

    def list(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Summaries (no targets), newest first: ``targets`` is replaced by its count."""
        query = {} if user_id is None else {"user_id": user_id}
        found = self.collection.aggregate([
            {"$match": query}, {"$sort": {"created_at": -1}},
            {"$set": {"targets": {"$size": {"$ifNull": ["$targets", []]}}}}])
        return list(found)

    def delete(self, watchlist_id: str) -> bool:
        return self.collection.delete_one({"_id": watchlist_id}).deleted_count == 1

    def loaded(self, watchlist_ids: Sequence[str]) -> dict[str, Watchlist]:
        """The watchlists named, ready to match (one ``find``)."""
        if not watchlist_ids:
            return {}
        return {str(d["_id"]): Watchlist.of(d)
                for d in self.collection.find({"_id": {"$in": list(set(watchlist_ids))}})}
