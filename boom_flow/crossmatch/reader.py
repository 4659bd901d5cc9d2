"""Reading a stored catalog for the crossmatch: only the partitions a batch touches,
each loaded once per process with a KD-tree on its unit vectors.

Which partitions a cone touches: the cone's centre pixel and its 8 neighbours at
``sky.search_order(radius)`` cover it; each such pixel is a range of ``_healpix_29``
values, and a partition (of any order) is touched when its own range overlaps one. The
partitions' ranges are disjoint, so the overlap is two ``searchsorted`` calls for the
whole batch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy.spatial import cKDTree

from boom_flow.crossmatch.sky import (
    SPATIAL_INDEX_ORDER,
    healpix,
    neighbourhoods,
    search_order,
    unit_vectors,
)
from boom_flow.crossmatch.store import CatalogInfo, catalog_info, read_partition

#: Partitions kept in memory per catalog (least recently used dropped first).
DEFAULT_CACHE_PARTITIONS = 512


@dataclass(frozen=True)
class LoadedPartition:
    """A partition's columns (Arrow) and a KD-tree on its rows' unit vectors."""

    table: pa.Table
    tree: cKDTree


class CatalogReader:
    """One catalog, the columns a crossmatch needs, and the partitions loaded so far.

    Not shared between processes: each Dask worker builds its own (the stage is built
    once per worker), so a partition is read from disk once per worker.
    """

    def __init__(self, info: CatalogInfo, columns: list[str] | None = None,
                 cache_partitions: int = DEFAULT_CACHE_PARTITIONS) -> None:
        self.info = info
        wanted = list(info.columns) if columns is None else list(columns)
        for position in (info.ra_column, info.dec_column):
            if position not in wanted:
                wanted.append(position)
        missing = sorted(set(wanted) - set(info.columns))
        if missing:
            raise KeyError(f"catalog {info.name!r} has no column {', '.join(missing)}")
        self.columns = wanted
        order = np.argsort([p.index_range()[0] for p in info.partitions])
        self.partitions = tuple(info.partitions[i] for i in order.tolist())
        ranges = np.array([p.index_range() for p in self.partitions], dtype=np.int64)
        self._low = ranges[:, 0] if len(ranges) else np.empty(0, np.int64)
        self._high = ranges[:, 1] if len(ranges) else np.empty(0, np.int64)
        self._cache: OrderedDict[int, LoadedPartition] = OrderedDict()
        # A Dask worker may run several tasks at once (threads_per_worker > 1).
        self._lock = threading.Lock()
        self._cache_size = cache_partitions
        #: Partition files read from disk by this reader (the cache's misses).
        self.reads = 0

    @classmethod
    def open(cls, root: Path, name: str, columns: list[str] | None = None) -> CatalogReader:
        return cls(catalog_info(root, name), columns)

    def touched(self, ra: np.ndarray, dec: np.ndarray, radius_arcsec: float
                ) -> tuple[np.ndarray, np.ndarray]:
        """``(position index, partition index)`` pairs: the partitions each cone of
        ``radius_arcsec`` around ``ra``/``dec`` may reach (no duplicate pairs)."""
        count = len(ra)
        if not count or not len(self.partitions):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        order = search_order(radius_arcsec)
        if order < 0:
            positions = np.repeat(np.arange(count), len(self.partitions))
            return positions, np.tile(np.arange(len(self.partitions)), count)
        block = neighbourhoods(healpix(ra, dec, order), order)
        owner = np.repeat(np.arange(count), block.shape[1])
        pixels = block.ravel()
        owner, pixels = owner[pixels >= 0], pixels[pixels >= 0]
        shift = 2 * (SPATIAL_INDEX_ORDER - order)
        low, high = pixels << shift, (pixels + 1) << shift
        # Partitions overlapping [low, high): first with high > low .. last with low < high.
        first = np.searchsorted(self._high, low, side="right")
        stop = np.searchsorted(self._low, high, side="left")
        spans = np.maximum(stop - first, 0)
        owners = np.repeat(owner, spans)
        offsets = np.arange(int(spans.sum())) - np.repeat(np.cumsum(spans) - spans, spans)
        parts = np.repeat(first, spans) + offsets
        pairs = np.unique(np.column_stack([owners, parts]), axis=0) if len(owners) else \
            np.empty((0, 2), np.int64)
        return pairs[:, 0], pairs[:, 1]

    def partition(self, number: int) -> LoadedPartition:
        """Partition ``number`` (an index into ``partitions``), from the cache if loaded."""
        with self._lock:
            loaded = self._cache.get(number)
            if loaded is not None:
                self._cache.move_to_end(number)
                return loaded
        table = read_partition(self.info, self.partitions[number], self.columns)
        ra = table[self.info.ra_column].to_numpy(zero_copy_only=False).astype(np.float64)
        dec = table[self.info.dec_column].to_numpy(zero_copy_only=False).astype(np.float64)
        loaded = LoadedPartition(table=table, tree=cKDTree(unit_vectors(ra, dec)))
        with self._lock:
            self.reads += 1
            self._cache[number] = loaded
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return loaded

    def reopened(self) -> CatalogReader:
        """A fresh reader of the catalog as it is now on disk (after a re-ingestion)."""
        return CatalogReader(catalog_info(self.info.path.parent, self.info.name), self.columns,
                             self._cache_size)
