"""Aliases across surveys: the same sky object known to ZTF and to LSST.

For every alert of a batch, the objects of the other survey already in the archive
within ``radius`` (2": the larger of the two surveys' positional uncertainties) are
its aliases; only where both surveys see the sky (ZTF north of -30, LSST south of
+33.5). Aliases go to ``aliases`` on both aux documents: ``{"LSST": [ids]}`` on the ZTF
object and ``{"ZTF": [ids]}`` on the LSST one, nearest first when first written.

Costs per batch, whatever its size: one read and at most one bulk write per aux
collection. The read asks the other survey's aux collection for the objects in the
batch's HEALPix pixels and their neighbours (``coordinates.healpix_14``, indexed, set
by the archive writer) with a single ``$in``; the separations are then computed in
memory. ``find_aliases`` runs before the stages (so filters see ``aliases``),
``write_aliases`` after the batch is stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pymongo import UpdateOne
from pymongo.database import Database
from scipy.spatial import cKDTree

from boom_flow.core import AlertBatch
from boom_flow.crossmatch.sky import healpix, neighbourhoods, pairs_within, unit_vectors
from boom_flow.storage.archive import AUX_PIXEL_FIELD, AUX_PIXEL_ORDER, collection_names
from boom_flow.storage.documents import column_values, float_column, stored_positions

#: Documents per reply of the one read (a reply stays far below 16 MB: ~100 B each).
READ_BATCH = 100_000
#: Which survey's objects a survey's alerts are compared with.
PARTNERS = {"ZTF": "LSST", "LSST": "ZTF"}


class SurveyFacts(Protocol):
    name: str
    dec_range: tuple[float, float]
    position_uncertainty_arcsec: float


@dataclass(frozen=True)
class AliasSearch:
    """Where and how far to look for the other survey's objects."""

    survey: str
    other: str
    radius_arcsec: float
    dec_min: float
    dec_max: float

    @classmethod
    def between(cls, this: SurveyFacts, other: SurveyFacts) -> AliasSearch:
        return cls(survey=this.name.upper(), other=other.name.upper(),
                   radius_arcsec=max(this.position_uncertainty_arcsec,
                                     other.position_uncertainty_arcsec),
                   dec_min=max(this.dec_range[0], other.dec_range[0]),
                   dec_max=min(this.dec_range[1], other.dec_range[1]))


def _searchable(search: AliasSearch, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    return (np.isfinite(ra) & np.isfinite(dec) & (dec >= search.dec_min)
            & (dec <= search.dec_max))


def find_aliases(db: Database, batch: AlertBatch, search: AliasSearch) -> AlertBatch:
    """A copy of ``batch`` with ``aliases = {OTHER: [ids]}`` on the alerts that have
    some (None on the others); one query."""
    ra = float_column(batch.candidates, "ra")
    dec = float_column(batch.candidates, "dec")
    where = np.flatnonzero(_searchable(search, ra, dec))
    values: list[dict[str, list[Any]] | None] = [None] * len(batch)
    if len(where):
        pixels = np.unique(neighbourhoods(healpix(ra[where], dec[where], AUX_PIXEL_ORDER),
                                          AUX_PIXEL_ORDER))
        aux = db[collection_names(search.other)["alerts_aux"]]
        documents = list(aux.find(
            {f"coordinates.{AUX_PIXEL_FIELD}": {"$in": pixels[pixels >= 0].tolist()}},
            {"coordinates.radec_geojson": 1},
            # One reply (the default first reply is 101 documents, then getMores).
            batch_size=READ_BATCH))
        for slot, ids in zip(where.tolist(), _nearby(documents, ra[where], dec[where],
                                                     search.radius_arcsec), strict=True):
            if ids:
                values[slot] = {search.other: ids}
    return batch.with_enrichment(
        "aliases", pd.Series(values, index=batch.alerts.index, dtype=object))


def _nearby(documents: Sequence[dict[str, Any]], ra: np.ndarray, dec: np.ndarray,
            radius_arcsec: float) -> list[list[Any]]:
    """For each position, the ids of ``documents`` within the radius, nearest first."""
    if not documents:
        return [[] for _ in range(len(ra))]
    ids = [d["_id"] for d in documents]
    tree = cKDTree(unit_vectors(*stored_positions(documents)))
    owners, rows, separations = pairs_within(tree, unit_vectors(ra, dec), radius_arcsec)
    out: list[list[Any]] = [[] for _ in range(len(ra))]
    for owner, row in zip(*(a[np.lexsort((rows, separations, owners))].tolist()
                            for a in (owners, rows)), strict=True):
        out[owner].append(ids[row])
    return out


def write_aliases(db: Database, batch: AlertBatch, search: AliasSearch) -> int:
    """Record the batch's aliases on both sides (``$addToSet``: idempotent); one bulk
    write per aux collection, none without aliases. The number of pairs."""
    found = batch.enrichments.get("aliases")
    if found is None:
        return 0
    ours: defaultdict[Any, list[Any]] = defaultdict(list)
    theirs: defaultdict[Any, list[Any]] = defaultdict(list)
    for object_id, value in zip(column_values(batch.alerts, "objectId"), found.tolist(),
                                strict=True):
        for other_id in (value or {}).get(search.other, ()):
            if other_id not in ours[object_id]:
                ours[object_id].append(other_id)
            if object_id not in theirs[other_id]:
                theirs[other_id].append(object_id)
    for survey, label, pairs in ((search.survey, search.other, ours),
                                 (search.other, search.survey, theirs)):
        if pairs:
            db[collection_names(survey)["alerts_aux"]].bulk_write(
                [UpdateOne({"_id": key}, {"$addToSet": {f"aliases.{label}": {"$each": ids}}})
                 for key, ids in pairs.items()], ordered=False)
    return sum(len(ids) for ids in ours.values())
