"""The reader reads only the partitions a batch's cones reach, once per process."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from boom_flow.crossmatch.matching import CatalogSpec, match_catalog
from boom_flow.crossmatch.sky import search_order, separation_arcsec
from tests.crossmatch.helpers import ingest, scatter_around, sky_points


def test_only_touched_partitions_are_read_and_then_cached(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    ra, dec = sky_points(rng, 20_000)
    reader = ingest(tmp_path, "SKY", {"ra": ra, "dec": dec}, max_rows=500)
    assert len(reader.partitions) > 40
    probe_ra, probe_dec = scatter_around(rng, 30.0, 10.0, 200, 3600.0)  # a 1-degree field
    spec = CatalogSpec("SKY", 10.0)
    first = match_catalog(reader, spec, probe_ra, probe_dec)
    positions, parts = reader.touched(probe_ra, probe_dec, 10.0)
    assert 0 < reader.reads == len(np.unique(parts)) <= 4
    again = match_catalog(reader, spec, probe_ra, probe_dec)
    assert again == first and reader.reads == len(np.unique(parts))  # from the cache
    # Every partition holding a row within the radius of a probe was among those read.
    for i in range(len(probe_ra)):
        near = separation_arcsec(probe_ra[i], probe_dec[i], ra, dec) <= 10.0
        assert len(first[i]) == int(near.sum())
    assert len(positions) >= len(probe_ra)
    # A cone wider than an order-0 neighbourhood reaches every partition.
    _, everything = reader.touched(np.array([1.0]), np.array([2.0]), 20 * 3600.0)
    assert sorted(everything.tolist()) == list(range(len(reader.partitions)))


def test_search_order_keeps_pixels_four_times_wider_than_the_radius() -> None:
    assert search_order(2.0) == 14  # 12.9" pixels
    assert search_order(300.0) == 7  # 0.46 degree pixels
    assert search_order(20 * 3600.0) == -1  # wider than an order-0 block: search all
    assert abs(float(separation_arcsec(0.0, 0.0, 0.0, 1.0)) - 3600.0) < 1e-9
    assert abs(float(separation_arcsec(359.5, 0.0, 0.5, 0.0)) - 3600.0) < 1e-9
    assert abs(float(separation_arcsec(0.0, 90.0, 180.0, 89.0)) - 3600.0) < 1e-9
