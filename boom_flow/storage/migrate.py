"""Migrations of an archive written by an older boom_flow.

``add_aux_pixels``: aux documents written before ``coordinates.healpix_14`` existed
lack the pixel the other survey's alias search reads (``storage.aliases`` finds
objects by an ``$in`` on it), so such objects are never found as aliases. It walks
``{S}_alerts_aux`` in ``_id`` order, a page at a time (only documents with a position
and without the pixel are read), computes the pixels of the page in one vectorised
call and writes them with one unordered bulk write. Idempotent and resumable: a
document that has its pixel is never read again, and each update is guarded by the
pixel's absence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymongo import UpdateOne
from pymongo.database import Database

from boom_flow.crossmatch.sky import healpix, usable
from boom_flow.storage.archive import AUX_PIXEL_FIELD, AUX_PIXEL_ORDER, collection_names
from boom_flow.storage.documents import stored_positions

DEFAULT_PAGE = 5_000
PIXEL_PATH = f"coordinates.{AUX_PIXEL_FIELD}"


@dataclass
class PixelMigration:
    #: Aux documents read (they had a position and no pixel).
    scanned: int = 0
    #: Pixels written.
    added: int = 0
    #: Documents whose stored position is unusable (left without a pixel).
    no_position: int = 0


def add_aux_pixels(db: Database, survey: str, page: int = DEFAULT_PAGE,
                   progress: Callable[[int], Any] | None = None) -> PixelMigration:
    """Add ``coordinates.healpix_14`` to every aux document of ``survey`` lacking it."""
    aux = db[collection_names(survey)["alerts_aux"]]
    summary = PixelMigration()
    query: dict[str, Any] = {PIXEL_PATH: {"$exists": False},
                             "coordinates.radec_geojson": {"$exists": True}}
    last: Any = None
    while True:
        where = query if last is None else {**query, "_id": {"$gt": last}}
        documents = list(aux.find(where, {"coordinates.radec_geojson": 1})
                         .sort("_id", 1).limit(page))
        if not documents:
            return summary
        last = documents[-1]["_id"]
        ra, dec = stored_positions(documents)
        placed = np.flatnonzero(usable(ra, dec))
        pixels = healpix(ra[placed], dec[placed], AUX_PIXEL_ORDER).tolist()
        ops = [UpdateOne({"_id": documents[row]["_id"], PIXEL_PATH: {"$exists": False}},
                         {"$set": {PIXEL_PATH: pixel}})
               for row, pixel in zip(placed.tolist(), pixels, strict=True)]
        if ops:
            summary.added += aux.bulk_write(ops, ordered=False).modified_count
        summary.scanned += len(documents)
        summary.no_position += len(documents) - len(placed)
        if progress is not None:
            progress(len(documents))
