"""Reading catalog tables: clear errors for unusable files, counted refusals for rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from boom_flow.crossmatch.tables import CatalogInputError, read_table, sort_rows


def test_rows_with_unusable_positions_are_refused_with_a_reason_each() -> None:
    table = pa.table({
        "ra": pa.array([10.0, None, float("nan"), 400.0, 20.0, float("inf"), 360.0, 0.0]),
        "dec": pa.array([5.0, 5.0, 5.0, 5.0, 95.0, 1.0, -90.0, None]),
        "name": list("abcdefgh"),
    })
    rows = sort_rows(table)
    assert rows.table["name"].to_pylist() == ["a", "g"]
    assert rows.refused["name"].to_pylist() == ["b", "c", "d", "e", "f", "h"]
    assert rows.refused["refused_reason"].to_pylist() == [
        "ra is missing", "ra is NaN", "ra outside [0, 360]", "dec outside [-90, 90]",
        "ra is infinite", "dec is missing"]
    assert rows.reasons == {"ra is missing": 1, "ra is NaN": 1, "ra outside [0, 360]": 1,
                            "dec outside [-90, 90]": 1, "ra is infinite": 1,
                            "dec is missing": 1}
    assert rows.refused_count == 6


def test_position_columns_are_found_by_usual_names_or_named() -> None:
    table = pa.table({"RAdeg": [1.0], "DEdeg": [2.0], "alt_ra": [3.0], "alt_dec": [4.0]})
    assert (sort_rows(table).ra_column, sort_rows(table).dec_column) == ("RAdeg", "DEdeg")
    named = sort_rows(table, "alt_ra", "alt_dec")
    assert (named.ra_column, named.dec_column) == ("alt_ra", "alt_dec")


@pytest.mark.parametrize(("columns", "ra", "dec", "message"), [
    ({"x": [1.0], "y": [2.0]}, None, None, "cannot tell which column holds ra"),
    ({"ra": [1.0], "dec": [2.0]}, "RA", None, "no column 'RA' for ra; the table has: ra, dec"),
    ({"ra": ["00 01 16.37"], "dec": [2.0]}, None, None, "column 'ra' holds string, not numbers"),
    ({"ra": [1.0], "dec": [True]}, None, None, "column 'dec' holds bool, not numbers"),
    ({"ra": pa.array([], pa.float64()), "dec": pa.array([], pa.float64())}, None, None,
     "no rows"),
])
def test_unusable_tables_are_a_clear_error(columns: dict[str, object], ra: str | None,
                                           dec: str | None, message: str) -> None:
    with pytest.raises(CatalogInputError, match=message.replace("(", r"\(")):
        sort_rows(pa.table(columns), ra, dec)


def test_parquet_csv_and_fits_are_read(tmp_path: Path) -> None:
    from astropy.table import Table

    pq.write_table(pa.table({"ra": [1.5], "dec": [-2.5], "__index_level_0__": [7]}),
                   tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text("ra,dec,name\n1.5,-2.5,x\n3.0,4.0,y\n")
    Table({"RAJ2000": np.array([1.5], ">f8"), "DEJ2000": np.array([-2.5], ">f4"),
           "name": np.array([b"src"]), "spectrum": np.zeros((1, 3))}).write(tmp_path / "c.fits")
    parquet = read_table(tmp_path / "a.parquet")
    assert parquet.column_names == ["ra", "dec"]
    assert read_table(tmp_path / "b.csv")["name"].to_pylist() == ["x", "y"]
    fits = read_table(tmp_path / "c.fits")
    assert fits.column_names == ["RAJ2000", "DEJ2000", "name"]  # 2-D column left out
    assert fits["name"].to_pylist() == ["src"]
    rows = sort_rows(fits)
    assert rows.table["DEJ2000"].to_pylist() == [-2.5]


def test_unreadable_or_unknown_files_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_bytes(b"not parquet")
    (tmp_path / "t.txt").write_text("ra,dec\n")
    with pytest.raises(CatalogInputError, match="cannot read the table"):
        read_table(tmp_path / "t.parquet")
    with pytest.raises(CatalogInputError, match="unknown format"):
        read_table(tmp_path / "t.txt")
