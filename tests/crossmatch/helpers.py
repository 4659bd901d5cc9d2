"""Building small catalogs for the tests, and the brute-force reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from boom_flow.crossmatch.reader import CatalogReader
from boom_flow.crossmatch.sky import separation_arcsec
from boom_flow.crossmatch.store import catalog_info, stage_catalog
from boom_flow.crossmatch.tables import sort_rows


def ingest(root: Path, name: str, columns: dict[str, object], max_rows: int = 50_000,
           ra: str | None = None, dec: str | None = None) -> CatalogReader:
    """Write ``columns`` as catalog ``name`` under ``root`` and open a reader on it."""
    rows = sort_rows(pa.table(columns), ra, dec)
    stage_catalog(root, name, rows, max_rows=max_rows).commit()
    return CatalogReader(catalog_info(root, name))


def brute_force(ra: np.ndarray, dec: np.ndarray, cat_ra: np.ndarray, cat_dec: np.ndarray,
                radius: float) -> list[set[int]]:
    """For each position, the catalog rows within ``radius`` arcsec (every pair)."""
    separation = separation_arcsec(ra[:, None], dec[:, None], cat_ra[None, :], cat_dec[None, :])
    return [set(np.flatnonzero(row <= radius).tolist()) for row in separation]


def sky_points(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform on the sphere."""
    return rng.uniform(0.0, 360.0, count), np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, count)))


def scatter_around(rng: np.random.Generator, ra: float, dec: float, count: int,
                   max_arcsec: float) -> tuple[np.ndarray, np.ndarray]:
    """Points within ``max_arcsec`` of (ra, dec), placed by offsets on the tangent plane
    (valid at the poles too: built from unit vectors)."""
    from boom_flow.crossmatch.sky import unit_vectors

    centre = unit_vectors(np.array([ra]), np.array([dec]))[0]
    helper = np.array([0.0, 0.0, 1.0]) if abs(centre[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    east = np.cross(helper, centre)
    east /= np.linalg.norm(east)
    north = np.cross(centre, east)
    angle = np.radians(rng.uniform(0.0, max_arcsec, count) / 3600.0)
    bearing = rng.uniform(0.0, 2 * np.pi, count)
    points = (np.cos(angle)[:, None] * centre
              + np.sin(angle)[:, None] * (np.cos(bearing)[:, None] * north
                                          + np.sin(bearing)[:, None] * east))
    out_ra = np.degrees(np.arctan2(points[:, 1], points[:, 0])) % 360.0
    out_dec = np.degrees(np.arcsin(np.clip(points[:, 2], -1.0, 1.0)))
    return out_ra, out_dec
