"""One configured catalog against many positions at once, with BOOM's semantics.

Settings per catalog (BOOM's keys; see ``crossmatch.md``):

- ``radius`` (arcsec): candidates are the catalog rows within it.
- ``use_distance: false``: every candidate is kept, with ``distance_arcsec``.
- ``use_distance: true`` (galaxy catalogs): a candidate of redshift ``z`` (column
  ``distance_key``) is kept when its separation is below ``distance_max * 0.05 / z``
  arcsec (``distance_max`` in kpc; at z = 0.05 one arcsec is about one kpc), or below
  ``distance_max_near`` arcsec when ``z < 0.01``; it gets ``distance_arcsec`` and
  ``distance_kpc = separation * z / 0.05`` (-1 when ``z <= 0.005``, where a redshift
  says little about distance). A row without a redshift cannot be placed and is not kept.
- Matches are sorted by separation; ``max_results`` keeps the nearest N.
- ``projection``: the catalog columns each match carries (MongoDB style: ``{col: 1}``
  to include; ``{col: 0}`` only, to exclude; empty: every column).

The work is columnar: one KD-tree query per touched partition for all the positions
that touch it, then numpy on the candidate pairs; only the kept matches become dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from boom_flow.crossmatch.reader import CatalogReader
from boom_flow.crossmatch.sky import pairs_within, unit_vectors
from boom_flow.crossmatch.store import INDEX_COLUMN

#: Redshift below which the near-field radius applies, and at or below which
#: ``distance_kpc`` is -1 (BOOM's constants).
NEAR_Z = 0.01
NO_DISTANCE_Z = 0.005
#: Arcsec per kpc scale of the physical radius (``distance_max * KPC_SCALE / z``).
KPC_SCALE = 0.05


@dataclass(frozen=True)
class CatalogSpec:
    """One catalog of a survey's crossmatch configuration."""

    catalog: str
    radius: float
    use_distance: bool = False
    distance_key: str | None = None
    distance_max: float | None = None
    distance_max_near: float | None = None
    projection: Mapping[str, int] = field(default_factory=dict)
    max_results: int | None = None

    def __post_init__(self) -> None:
        if not self.radius > 0:
            raise ValueError(f"{self.catalog}: radius must be > 0 arcsec, not {self.radius}")
        if self.use_distance and (self.distance_key is None or self.distance_max is None
                                  or self.distance_max_near is None):
            raise ValueError(f"{self.catalog}: use_distance needs distance_key, distance_max "
                             "and distance_max_near")
        if self.max_results is not None and self.max_results < 1:
            raise ValueError(f"{self.catalog}: max_results must be >= 1")

    def output_columns(self, available: Sequence[str]) -> list[str]:
        """The catalog columns a match carries, in the catalog's order."""
        columns = [c for c in available if c != INDEX_COLUMN]
        if not self.projection:
            return columns
        included = {k for k, v in self.projection.items() if v}
        if included:
            return [c for c in columns if c in included]
        return [c for c in columns if c not in self.projection]

    def needed_columns(self, available: Sequence[str]) -> list[str]:
        wanted = self.output_columns(available)
        if self.use_distance and self.distance_key not in wanted:
            wanted.append(str(self.distance_key))
        return wanted


@dataclass(frozen=True)
class Candidates:
    """Pairs (position, catalog row) within the radius, as flat arrays."""

    position: np.ndarray
    partition: np.ndarray
    row: np.ndarray
    separation: np.ndarray


def candidates_within(reader: CatalogReader, ra: np.ndarray, dec: np.ndarray,
                      radius_arcsec: float) -> Candidates:
    """Every (position, catalog row) pair closer than ``radius_arcsec``."""
    positions, parts = reader.touched(ra, dec, radius_arcsec)
    vectors = unit_vectors(ra, dec)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for part in np.unique(parts).tolist():
        who = positions[parts == part]
        loaded = reader.partition(part)
        if not loaded.table.num_rows:
            continue
        owners, rows, separations = pairs_within(loaded.tree, vectors[who], radius_arcsec)
        if len(rows):
            found.append((who[owners], np.full(len(rows), part), rows, separations))
    if not found:
        empty = np.empty(0, np.int64)
        return Candidates(empty, empty, empty, np.empty(0))
    return Candidates(*(np.concatenate(a) for a in zip(*found, strict=True)))


def match_catalog(reader: CatalogReader, spec: CatalogSpec, ra: np.ndarray, dec: np.ndarray
                  ) -> list[list[dict[str, Any]]]:
    """For each position, its matches in the catalog (nearest first; [] for none).

    Positions must be finite; the caller decides what an unusable position gets.
    """
    ra = np.asarray(ra, dtype=np.float64)
    dec = np.asarray(dec, dtype=np.float64)
    found = candidates_within(reader, ra, dec, spec.radius)
    distance_kpc = None
    if spec.use_distance:
        z = _column(reader, found, str(spec.distance_key))
        with np.errstate(divide="ignore", invalid="ignore"):
            limit = np.where(z < NEAR_Z, float(spec.distance_max_near),
                             float(spec.distance_max) * KPC_SCALE / z)
        keep = np.isfinite(z) & (found.separation < limit)
        found = Candidates(found.position[keep], found.partition[keep], found.row[keep],
                           found.separation[keep])
        z = z[keep]
        distance_kpc = np.where(z > NO_DISTANCE_Z, found.separation * z / KPC_SCALE, -1.0)
    order = np.lexsort((found.separation, found.position))
    if spec.max_results is not None and len(order):
        owner = found.position[order]
        starts = np.searchsorted(owner, owner, side="left")
        order = order[np.arange(len(order)) - starts < spec.max_results]
    records = _records(reader, spec, found, order)
    matches: list[list[dict[str, Any]]] = [[] for _ in range(len(ra))]
    for position, index, record in zip(found.position[order].tolist(), order.tolist(),
                                       records, strict=True):
        record["distance_arcsec"] = float(found.separation[index])
        if distance_kpc is not None:
            record["distance_kpc"] = float(distance_kpc[index])
        matches[position].append(record)
    return matches


def _column(reader: CatalogReader, found: Candidates, name: str) -> np.ndarray:
    """``name`` of every candidate's catalog row, as float64 (NaN for null)."""
    values = np.full(len(found.row), np.nan)
    for part in np.unique(found.partition).tolist():
        mask = found.partition == part
        column = reader.partition(part).table[name]
        taken = column.take(pa.array(found.row[mask]))
        values[mask] = pc.cast(taken, pa.float64()).to_numpy(zero_copy_only=False)
    return values


def _records(reader: CatalogReader, spec: CatalogSpec, found: Candidates, order: np.ndarray
             ) -> list[dict[str, Any]]:
    """The projected catalog rows of the matches, in ``order``."""
    records: list[dict[str, Any]] = [{} for _ in range(len(order))]
    if not len(order):
        return records
    columns = spec.output_columns(reader.columns)
    partitions = found.partition[order]
    rows = found.row[order]
    for part in np.unique(partitions).tolist():
        slots = np.flatnonzero(partitions == part)
        table = reader.partition(part).table.select(columns)
        for slot, row in zip(slots.tolist(), table.take(pa.array(rows[slots])).to_pylist(),
                             strict=True):
            records[slot] = row
    return records
