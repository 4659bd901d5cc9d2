"""Reading a catalog table (Parquet, CSV, FITS) and sorting its rows into usable and
refused, before anything is written.

A whole-file problem (unreadable file, a missing ra/dec column, a column that is not
numeric) is a ``CatalogInputError`` with a message saying what to fix: nothing is
loaded. A row whose position cannot be used (null, NaN or infinite, RA outside
[0, 360], Dec outside [-90, 90]) is refused and counted with its reason; the refused
rows are kept (``store`` writes them beside the catalog) so they can be inspected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

#: Column names tried, in order, when the user does not name the position columns.
RA_NAMES = ("ra", "RA", "RAdeg", "RA_deg", "ra_deg", "RAJ2000", "_RAJ2000", "RA_ICRS")
DEC_NAMES = ("dec", "DEC", "Dec", "DEdeg", "DEC_deg", "dec_deg", "DEJ2000", "_DEJ2000",
             "DE_ICRS", "declination")
#: Columns a catalog may not bring: the store adds its own spatial index.
RESERVED = ("_healpix_29",)
REASON_COLUMN = "refused_reason"


class CatalogInputError(ValueError):
    """The input table cannot be loaded at all (the message says why)."""


@dataclass(frozen=True)
class SortedRows:
    """A table split into the rows to load and the rows refused (with a reason each)."""

    table: pa.Table
    ra_column: str
    dec_column: str
    refused: pa.Table
    #: reason -> number of rows refused for it.
    reasons: dict[str, int]

    @property
    def refused_count(self) -> int:
        return self.refused.num_rows


def read_table(path: Path) -> pa.Table:
    """The file as an Arrow table; the format comes from the suffix."""
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            table = pq.read_table(path)
        elif name.endswith((".csv", ".csv.gz")):
            options = pacsv.ParseOptions(delimiter=",")
            table = pacsv.read_csv(path, parse_options=options)
        elif name.endswith((".fits", ".fit", ".fits.gz", ".fz")):
            table = _read_fits(path)
        else:
            raise CatalogInputError(f"{path}: unknown format (expected .parquet, .csv or .fits)")
    except (OSError, pa.ArrowInvalid) as error:
        raise CatalogInputError(f"{path}: cannot read the table: {error}") from None
    # A pandas index saved with the file is not a catalog column.
    keep = [c for c in table.column_names if not c.startswith("__index_level_")]
    return table.select(keep)


def _read_fits(path: Path) -> pa.Table:
    """The first table HDU; multidimensional columns cannot be Parquet scalars and are
    left out (their names are in the error of a catalog that needs them)."""
    from astropy.table import Table

    try:
        fits_table = Table.read(path, format="fits")
    except (OSError, ValueError) as error:
        raise CatalogInputError(f"{path}: cannot read a FITS table: {error}") from None
    columns = {}
    for name in fits_table.colnames:
        column = fits_table[name]
        if column.ndim > 1:
            continue
        values = np.asarray(column)
        if values.dtype.kind == "S":
            values = np.char.decode(values, "utf-8", errors="replace")
        if values.dtype.byteorder not in ("=", "|"):
            values = values.astype(values.dtype.newbyteorder("="))
        mask = getattr(column, "mask", None)
        columns[name] = pa.array(values, mask=None if mask is None else np.asarray(mask))
    return pa.table(columns)


def find_column(table: pa.Table, wanted: str | None, candidates: tuple[str, ...],
                what: str) -> str:
    """The position column to use: the named one, else the first known name present."""
    names = table.column_names
    if wanted is not None:
        if wanted not in names:
            raise CatalogInputError(f"no column {wanted!r} for {what}; the table has: "
                                    f"{', '.join(names)}")
        return wanted
    for name in candidates:
        if name in names:
            return name
    raise CatalogInputError(f"cannot tell which column holds {what} (tried "
                            f"{', '.join(candidates)}); name it with --{what}. The table has: "
                            f"{', '.join(names)}")


def _numeric(table: pa.Table, column: str) -> np.ndarray:
    values = table[column]
    kind = values.type
    if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)
            or pa.types.is_decimal(kind)):
        raise CatalogInputError(f"column {column!r} holds {kind}, not numbers: positions must "
                                f"be decimal degrees (convert sexagesimal text first)")
    return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)


def sort_rows(table: pa.Table, ra: str | None = None, dec: str | None = None) -> SortedRows:
    """Check the table as a whole, then split its rows into usable and refused."""
    if table.num_rows == 0:
        raise CatalogInputError("the table has no rows")
    clashes = [c for c in RESERVED if c in table.column_names]
    if clashes:
        table = table.drop_columns(clashes)
    ra_column = find_column(table, ra, RA_NAMES, "ra")
    dec_column = find_column(table, dec, DEC_NAMES, "dec")
    if ra_column == dec_column:
        raise CatalogInputError(f"ra and dec cannot both be column {ra_column!r}")
    ra_values = _numeric(table, ra_column)
    dec_values = _numeric(table, dec_column)
    reasons = np.full(table.num_rows, "", dtype=object)
    # The first applicable reason wins, most basic first.
    checks = [
        (np.isnan(ra_values) & ~np.asarray(table[ra_column].is_null()), f"{ra_column} is NaN"),
        (np.asarray(table[ra_column].is_null()), f"{ra_column} is missing"),
        (np.isinf(ra_values), f"{ra_column} is infinite"),
        (np.isnan(dec_values) & ~np.asarray(table[dec_column].is_null()),
         f"{dec_column} is NaN"),
        (np.asarray(table[dec_column].is_null()), f"{dec_column} is missing"),
        (np.isinf(dec_values), f"{dec_column} is infinite"),
        ((ra_values < 0.0) | (ra_values > 360.0), f"{ra_column} outside [0, 360]"),
        ((dec_values < -90.0) | (dec_values > 90.0), f"{dec_column} outside [-90, 90]"),
    ]
    for mask, reason in checks:
        reasons[mask & (reasons == "")] = reason
    bad = reasons != ""
    counts = {str(r): int(n) for r, n in zip(*np.unique(reasons[bad].astype(str),
                                                         return_counts=True), strict=True)}
    refused = table.filter(pa.array(bad)).append_column(
        REASON_COLUMN, pa.array(reasons[bad].astype(str), type=pa.string()))
    return SortedRows(table=table.filter(pa.array(~bad)), ra_column=ra_column,
                      dec_column=dec_column, refused=refused, reasons=counts)
