"""The catalog store: one HATS catalog per name under ``crossmatch.catalogs_dir``.

Layout (what ``hats.read_hats`` and ``lsdb`` read)::

    NAME/properties                      obs_collection, hats_nrows, hats_col_ra, ...
    NAME/partition_info.csv              Norder,Npix of every partition
    NAME/dataset/_common_metadata        the Arrow schema
    NAME/dataset/Norder=K/Dir=D/Npix=N.parquet
    NAME/refused.parquet                 rows refused at ingestion, with the reason

Every row carries ``_healpix_29`` (its nested pixel at order 29); rows are sorted by it,
so a partition is a contiguous slice of the sorted table. Partitions are adaptive as in
HATS: a pixel holding more than ``max_rows`` rows is split into its four children,
down to ``max_order``, so dense regions get small pixels and the cache holds what a
batch needs, not a whole hemisphere.

Why not write with ``hats``/``hats-import``: writing a HATS catalog from a table in
memory needs ``hats-import`` (a Dask pipeline) or ``lsdb``; ``hats`` alone imports in
~2.3 s and brings numba, llvmlite, mocpy, aiohttp and nested-pandas, while the layout
is a few files written here with pyarrow and ``cdshealpix`` (the HEALPix library
``hats`` itself uses). The tests read the result with ``hats.read_hats``.

A catalog is written to a hidden temporary folder and renamed into place only when
complete (``StagedCatalog.commit``): an interrupted or failed ingestion leaves the
previous version untouched and never a partial one.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from boom_flow import __version__
from boom_flow.crossmatch.sky import SPATIAL_INDEX_ORDER, healpix
from boom_flow.crossmatch.tables import SortedRows

INDEX_COLUMN = "_healpix_29"
DATASET = "dataset"
PROPERTIES = "properties"
PARTITION_INFO = "partition_info.csv"
REFUSED = "refused.parquet"
#: HATS groups pixel files in directories of 10,000 pixel numbers.
DIR_SPAN = 10_000
DEFAULT_MAX_ROWS = 50_000
DEFAULT_MAX_ORDER = 10

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Partition:
    order: int
    pixel: int

    @property
    def directory(self) -> int:
        return self.pixel // DIR_SPAN * DIR_SPAN

    def relative_path(self) -> str:
        return f"{DATASET}/Norder={self.order}/Dir={self.directory}/Npix={self.pixel}.parquet"

    def index_range(self) -> tuple[int, int]:
        """The ``_healpix_29`` values of this pixel: ``[low, high)``."""
        shift = 2 * (SPATIAL_INDEX_ORDER - self.order)
        return self.pixel << shift, (self.pixel + 1) << shift


@dataclass(frozen=True)
class CatalogInfo:
    """What ``catalogs list`` shows and what the reader needs."""

    name: str
    path: Path
    rows: int
    columns: tuple[str, ...]
    partitions: tuple[Partition, ...]
    ra_column: str
    dec_column: str
    size_bytes: int
    refused: int
    created: str


def plan_partitions(index: np.ndarray, max_rows: int, max_order: int = DEFAULT_MAX_ORDER
                    ) -> list[tuple[Partition, int, int]]:
    """Adaptive partitions of sorted ``_healpix_29`` values: ``(partition, start, stop)``
    row slices, from order 0 down, a pixel split while it holds more than ``max_rows``."""
    out: list[tuple[Partition, int, int]] = []
    pending = [(0, np.arange(12, dtype=np.int64))]
    while pending:
        order, pixels = pending.pop()
        shift = 2 * (SPATIAL_INDEX_ORDER - order)
        starts = np.searchsorted(index, pixels << shift, side="left")
        stops = np.searchsorted(index, (pixels + 1) << shift, side="left")
        counts = stops - starts
        final = (counts <= max_rows) | (order >= max_order)
        for pixel, start, stop in zip(pixels[final & (counts > 0)].tolist(),
                                      starts[final & (counts > 0)].tolist(),
                                      stops[final & (counts > 0)].tolist(), strict=True):
            out.append((Partition(order, pixel), start, stop))
        split = pixels[~final]
        if len(split):
            children = (split[:, None] * 4 + np.arange(4, dtype=np.int64)).ravel()
            pending.append((order + 1, children))
    out.sort(key=lambda item: item[1])
    return out


class StagedCatalog:
    """A complete catalog in a temporary folder, waiting to replace ``NAME``."""

    def __init__(self, root: Path, name: str, staging: Path, rows: int, partitions: int) -> None:
        self.root, self.name, self.staging = root, name, staging
        self.rows, self.partitions = rows, partitions

    def commit(self) -> Path:
        """Put the catalog in place (the previous version, if any, is removed after)."""
        target = self.root / self.name
        retired = self.root / f".{self.name}.old-{uuid.uuid4().hex[:8]}"
        if target.exists():
            target.rename(retired)
        self.staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
        return target

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def stage_catalog(root: Path, name: str, rows: SortedRows, source: str = "",
                  max_rows: int = DEFAULT_MAX_ROWS, max_order: int = DEFAULT_MAX_ORDER,
                  progress: Progress | None = None) -> StagedCatalog:
    """Write ``rows`` as catalog ``name`` in a temporary folder under ``root``."""
    check_name(name)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        table = rows.table
        ra = table[rows.ra_column].to_numpy(zero_copy_only=False).astype(np.float64)
        dec = table[rows.dec_column].to_numpy(zero_copy_only=False).astype(np.float64)
        index = healpix(ra, dec, SPATIAL_INDEX_ORDER)
        order = np.argsort(index, kind="stable")
        table = table.take(pa.array(order)).append_column(INDEX_COLUMN, pa.array(index[order]))
        index = index[order]
        plan = plan_partitions(index, max_rows, max_order)
        for partition, start, stop in plan:
            target = staging / partition.relative_path()
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.slice(start, stop - start), target)
            if progress is not None:
                progress(stop - start)
        pq.write_metadata(table.schema, staging / DATASET / "_common_metadata")
        _write_partition_info(staging, [p for p, _, _ in plan])
        if rows.refused.num_rows:
            pq.write_table(rows.refused, staging / REFUSED)
        _write_properties(staging, name, rows, table.num_rows, max_rows,
                          max((p.order for p, _, _ in plan), default=0), source)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StagedCatalog(root, name, staging, table.num_rows, len(plan))


def check_name(name: str) -> None:
    """Catalog names become folder and collection names."""
    if not name or not all(c.isalnum() or c in "_-." for c in name) or name[0] in ".-":
        raise ValueError(f"catalog name {name!r}: use letters, digits, '_', '-', '.' "
                         "(not starting with '.' or '-')")


def _write_partition_info(folder: Path, partitions: list[Partition]) -> None:
    lines = ["Norder,Npix"] + [f"{p.order},{p.pixel}" for p in
                               sorted(partitions, key=lambda p: (p.order, p.pixel))]
    (folder / PARTITION_INFO).write_text("\n".join(lines) + "\n")


def _write_properties(folder: Path, name: str, rows: SortedRows, total: int, max_rows: int,
                      order: int, source: str) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M%Z")
    size = sum(f.stat().st_size for f in folder.rglob("*.parquet"))
    properties = {
        "obs_collection": name,
        "dataproduct_type": "object",
        "hats_nrows": total,
        "hats_col_ra": rows.ra_column,
        "hats_col_dec": rows.dec_column,
        "hats_col_healpix": INDEX_COLUMN,
        "hats_col_healpix_order": SPATIAL_INDEX_ORDER,
        "hats_max_rows": max_rows,
        "hats_order": order,
        "hats_npix_suffix": ".parquet",
        "hats_estsize": size // 1024,
        "hats_builder": f"boom-flow v{__version__}",
        "hats_creation_date": now,
        "hats_release_date": now[:10],
        "hats_version": "v0.1",
        "boom_flow_refused_rows": rows.refused_count,
        "boom_flow_source": source.replace("\n", " "),
    }
    text = "".join(f"{key}={value}\n" for key, value in properties.items())
    (folder / PROPERTIES).write_text(text)


def read_properties(folder: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (folder / PROPERTIES).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def read_partitions(folder: Path) -> tuple[Partition, ...]:
    lines = (folder / PARTITION_INFO).read_text().splitlines()[1:]
    return tuple(Partition(int(o), int(p)) for o, p in (line.split(",") for line in lines
                                                        if line.strip()))


def catalog_info(root: Path, name: str) -> CatalogInfo:
    """The catalog ``name``; ``FileNotFoundError`` when it was never ingested."""
    folder = root / name
    if not (folder / PROPERTIES).is_file():
        raise FileNotFoundError(f"catalog {name!r} is not ingested (no {folder / PROPERTIES})")
    properties = read_properties(folder)
    schema = pq.read_schema(folder / DATASET / "_common_metadata")
    return CatalogInfo(
        name=name, path=folder, rows=int(properties["hats_nrows"]),
        columns=tuple(c for c in schema.names if c != INDEX_COLUMN),
        partitions=read_partitions(folder),
        ra_column=properties["hats_col_ra"], dec_column=properties["hats_col_dec"],
        size_bytes=sum(f.stat().st_size for f in (folder / DATASET).rglob("*.parquet")),
        refused=int(properties.get("boom_flow_refused_rows", 0)),
        created=properties.get("hats_creation_date", ""),
    )


def list_catalogs(root: Path) -> list[CatalogInfo]:
    if not root.is_dir():
        return []
    return [catalog_info(root, p.name) for p in sorted(root.iterdir())
            if not p.name.startswith(".") and (p / PROPERTIES).is_file()]


def read_partition(info: CatalogInfo, partition: Partition, columns: list[str] | None = None
                   ) -> pa.Table:
    return pq.read_table(info.path / partition.relative_path(), columns=columns)
