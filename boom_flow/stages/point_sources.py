"""``star`` and ``near_brightstar`` of surveys whose packets carry no neighbours (LSST).

ZTF packets name their nearest PS1 and Gaia sources, so ``features.flags`` decides from
the candidate. An LSST packet does not: as BOOM does (``src/enrichment/lsst.rs``), the
object's crossmatch with a point-source catalog decides (its rows carry a
point-source ``score`` and a ``mag_white``):

- ``star``: a match within 1" with ``score > 0.5``;
- ``near_brightstar``: a match within 20" with ``score > 0.5`` and ``mag_white <= 15``;
- unknown (null) where nothing could say: the object was never matched with the
  catalog (not configured, not ingested), or nothing matched and the position lies
  outside the catalog's footprint (``footprint``: a MOC; without one, "nothing
  matched" means false).

The matches are the object's ``cross_matches`` (computed for a new object by the
crossmatch stage earlier in the batch, read from the archive for a known one). One
table of all the batch's matches, one grouped pass: no per-alert loop over catalogs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from boom_flow.core import AlertBatch
from boom_flow.crossmatch.footprint import Footprint
from boom_flow.storage.documents import column_values, float_column

DEFAULT_CATALOG = "LSPSC"
STELLAR_DISTANCE_ARCSEC = 1.0
NEAR_BRIGHTSTAR_DISTANCE_ARCSEC = 20.0
NEAR_BRIGHTSTAR_MAG = 15.0
POINT_SOURCE_SCORE = 0.5


def object_matches(batch: AlertBatch, catalog: str) -> list[list[dict[str, Any]] | None]:
    """Per alert, its object's matches in ``catalog`` (None: never matched with it)."""
    fresh = batch.enrichments.get("cross_matches")
    known: dict[Any, Any] = {}
    if batch.known is not None and "cross_matches" in batch.known.objects.columns:
        known = dict(zip(batch.known.objects["objectId"].tolist(),
                         batch.known.objects["cross_matches"].tolist(), strict=True))
    out: list[list[dict[str, Any]] | None] = []
    for row, object_id in enumerate(column_values(batch.alerts, "objectId")):
        matches = fresh.iloc[row] if fresh is not None else None
        if not isinstance(matches, dict):
            matches = known.get(object_id)
        found = matches.get(catalog) if isinstance(matches, dict) else None
        out.append(found if isinstance(found, list) else None)
    return out


def _numbers(rows: list[dict[str, Any]], name: str) -> np.ndarray:
    return np.array([v if isinstance(v := r.get(name), int | float) and not isinstance(v, bool)
                     else np.nan for r in rows], dtype=np.float64)


def catalog_flags(batch: AlertBatch, catalog: str = DEFAULT_CATALOG,
                  footprint: Footprint | None = None) -> dict[str, np.ndarray]:
    """``star`` and ``near_brightstar`` per alert: object arrays of True, False or None."""
    matches = object_matches(batch, catalog)
    rows = [m for found in matches if found for m in found]
    owners = np.repeat(np.arange(len(matches)), [len(found or ()) for found in matches])
    distance, score = _numbers(rows, "distance_arcsec"), _numbers(rows, "score")
    mag = _numbers(rows, "mag_white")
    with np.errstate(invalid="ignore"):  # NaN compares false: a row lacking it says nothing
        pointlike = score > POINT_SOURCE_SCORE
        table = pd.DataFrame({
            "alert": owners,
            "star": pointlike & (distance <= STELLAR_DISTANCE_ARCSEC),
            "near": pointlike & (distance <= NEAR_BRIGHTSTAR_DISTANCE_ARCSEC)
                    & (mag <= NEAR_BRIGHTSTAR_MAG)})
    hits = table.groupby("alert")[["star", "near"]].any()
    star = np.zeros(len(batch), dtype=bool)
    near = np.zeros(len(batch), dtype=bool)
    star[hits.index.to_numpy()] = hits["star"].to_numpy()
    near[hits.index.to_numpy()] = hits["near"].to_numpy()
    unknown = np.array([found is None for found in matches], dtype=bool)
    if footprint is not None:
        empty = np.array([found == [] for found in matches], dtype=bool)
        outside = ~footprint.contains(float_column(batch.candidates, "ra"),
                                      float_column(batch.candidates, "dec"))
        unknown |= empty & outside
    return {name: np.where(unknown, None, values.astype(object))
            for name, values in (("star", star), ("near_brightstar", near))}
