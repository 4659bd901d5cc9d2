"""Spherical geometry shared by the catalog store, the crossmatch and the aliases.

Positions are ICRS degrees. Distances are compared as chords between unit vectors
(what a KD-tree on the unit sphere measures), and reported as great-circle
separations in arcseconds. HEALPix pixels are NESTED indexes from ``cdshealpix``
(the scheme HATS uses); order 29 is HATS's ``_healpix_29`` spatial index.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: HATS's spatial index: the nested pixel at the deepest order ``cdshealpix`` offers.
SPATIAL_INDEX_ORDER = 29
#: A search uses a pixel and its 8 neighbours at the deepest order whose pixels are
#: this many times wider than the search radius (HEALPix pixels are not square: a
#: margin of 4 keeps the 3x3 block around any point wider than the cone everywhere,
#: poles and base-pixel corners included; the tests check it against brute force).
NEIGHBOUR_MARGIN = 4.0
ARCSEC_PER_RADIAN = 180.0 / math.pi * 3600.0


def usable(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Boolean mask: the positions that can be placed on the sky (finite, |dec| <= 90);
    a NaN in a GeoJSON point would make a 2dsphere index refuse the whole document."""
    ra = np.asarray(ra, dtype=np.float64)
    dec = np.asarray(dec, dtype=np.float64)
    return np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0)


def unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """``(n, 3)`` Cartesian unit vectors of ``ra``/``dec`` (degrees)."""
    ra_rad = np.radians(np.asarray(ra, dtype=np.float64))
    dec_rad = np.radians(np.asarray(dec, dtype=np.float64))
    cos_dec = np.cos(dec_rad)
    return np.column_stack([cos_dec * np.cos(ra_rad), cos_dec * np.sin(ra_rad), np.sin(dec_rad)])


def chord_for(radius_arcsec: float) -> float:
    """Chord length between two unit vectors ``radius_arcsec`` apart."""
    return 2.0 * math.sin(min(radius_arcsec / ARCSEC_PER_RADIAN, math.pi) / 2.0)


def arcsec_from_chord(chord: np.ndarray) -> np.ndarray:
    """Great-circle separation (arcsec) of unit vectors ``chord`` apart (exact for
    small and large angles alike, unlike an arccos of a dot product)."""
    return 2.0 * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0)) * ARCSEC_PER_RADIAN


def pairs_within(tree: Any, vectors: np.ndarray, radius_arcsec: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (row of ``vectors``, point of ``tree``) pair closer than ``radius_arcsec``,
    as flat arrays ``(owners, rows, separations in arcsec)``: one ball query for all the
    vectors, the separations from the chords (``tree``: a ``scipy.spatial.cKDTree`` of
    unit vectors)."""
    hits = tree.query_ball_point(vectors, chord_for(radius_arcsec))
    counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    if not counts.sum():
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0)
    rows = np.concatenate([np.asarray(h, dtype=np.int64) for h in hits if h])
    owners = np.repeat(np.arange(len(hits)), counts)
    separations = arcsec_from_chord(np.linalg.norm(tree.data[rows] - vectors[owners], axis=1))
    keep = separations <= radius_arcsec
    return owners[keep], rows[keep], separations[keep]


def separation_arcsec(ra1: np.ndarray, dec1: np.ndarray, ra2: np.ndarray, dec2: np.ndarray
                      ) -> np.ndarray:
    """Great-circle separation (arcsec) between positions, elementwise (Vincenty)."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=np.float64))
                            for v in (ra1, dec1, ra2, dec2))
    delta = ra2 - ra1
    num = np.hypot(np.cos(dec2) * np.sin(delta),
                   np.cos(dec1) * np.sin(dec2) - np.sin(dec1) * np.cos(dec2) * np.cos(delta))
    den = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(delta)
    return np.arctan2(num, den) * ARCSEC_PER_RADIAN


def pixel_size_arcsec(order: int) -> float:
    """Square root of a pixel's area at ``order`` (arcsec)."""
    return math.sqrt(4.0 * math.pi / (12 * 4**order)) * ARCSEC_PER_RADIAN


def search_order(radius_arcsec: float, deepest: int = SPATIAL_INDEX_ORDER) -> int:
    """The deepest order (at most ``deepest``) whose 3x3 pixel blocks hold any cone of
    ``radius_arcsec``; -1 when even order 0 is too fine (search everything)."""
    for order in range(deepest, -1, -1):
        if pixel_size_arcsec(order) >= NEIGHBOUR_MARGIN * radius_arcsec:
            return order
    return -1


def healpix(ra: np.ndarray, dec: np.ndarray, order: int) -> np.ndarray:
    """Nested HEALPix pixels (int64) of ``ra``/``dec`` (degrees, finite, |dec| <= 90)."""
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from cdshealpix import nested

    ra = np.asarray(ra, dtype=np.float64) % 360.0
    dec = np.asarray(dec, dtype=np.float64)
    if not len(ra):
        return np.empty(0, dtype=np.int64)
    pixels = nested.lonlat_to_healpix(Longitude(ra, unit=u.deg), Latitude(dec, unit=u.deg),
                                      order, num_threads=1)
    return pixels.astype(np.int64)


def neighbourhoods(pixels: np.ndarray, order: int) -> np.ndarray:
    """``(n, 9)``: each pixel and its neighbours at ``order``, -1 where a pixel at a
    base-pixel corner has only 7."""
    from cdshealpix import nested

    if not len(pixels):
        return np.empty((0, 9), dtype=np.int64)
    block = nested.neighbours(np.asarray(pixels, dtype=np.uint64), order, num_threads=1)
    return np.asarray(block, dtype=np.int64)
