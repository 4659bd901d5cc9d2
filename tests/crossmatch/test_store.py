"""The catalog store: HATS layout, adaptive partitions, all-or-nothing replacement."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from boom_flow.crossmatch import store
from boom_flow.crossmatch.sky import healpix
from boom_flow.crossmatch.store import (
    catalog_info,
    list_catalogs,
    plan_partitions,
    stage_catalog,
)
from boom_flow.crossmatch.tables import sort_rows
from tests.crossmatch.helpers import scatter_around, sky_points


def _rows(count: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ra, dec = sky_points(rng, count)
    dense_ra, dense_dec = scatter_around(rng, 266.4, -29.0, count, 600.0)  # a crowded field
    return pa.table({"ra": np.concatenate([ra, dense_ra]), "dec": np.concatenate([dec, dense_dec]),
                     "id": np.arange(2 * count)})


def test_partitions_are_adaptive_and_cover_every_row_once() -> None:
    rng = np.random.default_rng(3)
    ra, dec = sky_points(rng, 5000)
    index = np.sort(healpix(ra, dec, 29))
    plan = plan_partitions(index, max_rows=400)
    assert sum(stop - start for _, start, stop in plan) == 5000
    assert all(stop - start <= 400 for _, start, stop in plan)
    for partition, start, stop in plan:
        low, high = partition.index_range()
        assert ((index[start:stop] >= low) & (index[start:stop] < high)).all()
    # Capped at max_order, whatever the density.
    pile = np.sort(healpix(np.full(1000, 10.0), np.full(1000, 10.0), 29))
    assert [(p.order, stop - start) for p, start, stop in plan_partitions(pile, 10, 4)] == [
        (4, 1000)]


def test_written_catalog_is_a_hats_catalog(tmp_path: Path) -> None:
    import hats

    rows = sort_rows(_rows(4000))
    staged = stage_catalog(tmp_path, "SYN", rows, source="test", max_rows=500)
    assert not (tmp_path / "SYN").exists()  # nothing visible before the commit
    staged.commit()
    info = catalog_info(tmp_path, "SYN")
    assert info.rows == 8000 and info.columns == ("ra", "dec", "id")
    assert len(info.partitions) == staged.partitions > 12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hats warns that there is no point map (MOC)
        catalog = hats.read_hats(tmp_path / "SYN")
    assert catalog.catalog_info.total_rows == 8000
    assert catalog.catalog_info.ra_column == "ra"
    assert sorted((p.order, p.pixel) for p in catalog.get_healpix_pixels()) == sorted(
        (p.order, p.pixel) for p in info.partitions)
    ids = []
    for partition in info.partitions:
        table = pq.read_table(tmp_path / "SYN" / partition.relative_path())
        low, high = partition.index_range()
        index = table["_healpix_29"].to_numpy()
        assert (index >= low).all() and (index < high).all()
        assert (np.diff(index) >= 0).all()
        ids += table["id"].to_pylist()
    assert sorted(ids) == list(range(8000))
    assert [c.name for c in list_catalogs(tmp_path)] == ["SYN"]


def test_refused_rows_are_kept_beside_the_catalog(tmp_path: Path) -> None:
    table = pa.table({"ra": [1.0, float("nan"), 2.0], "dec": [1.0, 1.0, 99.0], "n": [1, 2, 3]})
    stage_catalog(tmp_path, "BAD", sort_rows(table)).commit()
    info = catalog_info(tmp_path, "BAD")
    assert (info.rows, info.refused) == (1, 2)
    refused = pq.read_table(tmp_path / "BAD" / store.REFUSED)
    assert refused["n"].to_pylist() == [2, 3]
    assert refused["refused_reason"].to_pylist() == ["ra is NaN", "dec outside [-90, 90]"]


def test_a_failed_ingestion_leaves_the_previous_version(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    stage_catalog(tmp_path, "CAT", sort_rows(_rows(100))).commit()
    before = catalog_info(tmp_path, "CAT")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write_partition_info", broken)
    with pytest.raises(OSError, match="disk full"):
        stage_catalog(tmp_path, "CAT", sort_rows(_rows(300)))
    assert catalog_info(tmp_path, "CAT").rows == before.rows == 200
    assert [p.name for p in tmp_path.iterdir()] == ["CAT"]  # no temporary folder left
    monkeypatch.undo()
    staged = stage_catalog(tmp_path, "CAT", sort_rows(_rows(300)))
    staged.discard()
    assert catalog_info(tmp_path, "CAT").rows == 200
    stage_catalog(tmp_path, "CAT", sort_rows(_rows(300))).commit()
    assert catalog_info(tmp_path, "CAT").rows == 600
    assert [p.name for p in tmp_path.iterdir()] == ["CAT"]


def test_catalog_names_are_checked_and_a_missing_catalog_is_said(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="catalog name"):
        stage_catalog(tmp_path, "../x", sort_rows(_rows(10)))
    with pytest.raises(FileNotFoundError, match="'NOPE' is not ingested"):
        catalog_info(tmp_path, "NOPE")
