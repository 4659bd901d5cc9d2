"""A survey footprint as an IVOA MOC (2.0, ``ORDERING = 'RANGE'``): is a position in it?

A RANGE MOC lists sorted, disjoint ``[start, end)`` intervals of nested HEALPix pixels
at order 29 (``MOCORD_S`` only records how fine the coverage is). A position is inside
when its order-29 pixel falls in an interval: one ``searchsorted`` for a whole batch.
Used by the LSST properties (BOOM leaves ``star``/``near_brightstar`` unknown outside
the Legacy Survey footprint, whose point-source catalog decides them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from boom_flow.crossmatch.sky import SPATIAL_INDEX_ORDER, healpix, usable


@dataclass(frozen=True)
class Footprint:
    #: Interval bounds at order 29, flattened: start0, end0, start1, end1, ...
    bounds: np.ndarray

    @classmethod
    def read(cls, path: str | Path) -> Footprint:
        """A MOC FITS file (raises ``ValueError`` for a MOC that is not RANGE-ordered)."""
        from astropy.io import fits

        with fits.open(path) as hdus:
            table = hdus[1]
            ordering = str(table.header.get("ORDERING", "")).upper()
            if ordering != "RANGE":
                raise ValueError(f"{path}: a MOC with ORDERING = 'RANGE' is expected "
                                 f"(found {ordering or 'none'})")
            bounds = np.asarray(table.data.field(0), dtype=np.int64)
        if len(bounds) % 2 or np.any(np.diff(bounds) < 0):
            raise ValueError(f"{path}: the MOC's ranges are not sorted [start, end) pairs")
        return cls(bounds)

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """Boolean mask: the positions inside (an unusable position is outside)."""
        ra = np.asarray(ra, dtype=np.float64)
        dec = np.asarray(dec, dtype=np.float64)
        inside = np.zeros(len(ra), dtype=bool)
        ok = np.flatnonzero(usable(ra, dec))
        pixels = healpix(ra[ok], dec[ok], SPATIAL_INDEX_ORDER)
        inside[ok] = np.searchsorted(self.bounds, pixels, side="right") % 2 == 1
        return inside
