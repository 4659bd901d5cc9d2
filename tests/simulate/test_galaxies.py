"""The NED-like galaxy catalog generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from boom_flow.simulate import simulate_galaxy_catalog


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    return simulate_galaxy_catalog(200_000, seed=9)


def test_size_and_columns(catalog: pd.DataFrame) -> None:
    assert len(catalog) == 200_000
    assert {"objname", "ra", "dec", "z", "DistMpc"} <= set(catalog.columns)
    assert catalog["objname"].is_unique
    assert catalog.notna().all().all()


def test_value_ranges(catalog: pd.DataFrame) -> None:
    assert catalog["ra"].between(0, 360, inclusive="left").all()
    assert catalog["dec"].between(-90, 90).all()
    # Uniform on the sphere: as many galaxies within 30 deg of the equator as beyond.
    assert abs((catalog["dec"].abs() < 30).mean() - 0.5) < 0.01
    z = catalog["z"]
    assert z.gt(0).all() and z.lt(1.5).all()
    assert 0.02 < z.median() < 0.1
    assert (z < 0.01).mean() > 0.02  # nearby galaxies: the distance rule's special case
    expected = z * 299_792.458 / 70.0
    assert np.allclose(catalog["DistMpc"], expected)
    assert catalog["mag_b"].between(8, 24).all()


def test_names_follow_the_position(catalog: pd.DataFrame) -> None:
    row = catalog.iloc[0]
    hours = row["ra"] / 15
    name = row["objname"]
    assert name.startswith(f"SIM J{int(hours):02d}")
    assert name[14] == ("-" if row["dec"] < 0 else "+")
    assert name[15:17] == f"{int(abs(row['dec'])):02d}"


def test_the_same_seed_gives_the_same_catalog() -> None:
    first = simulate_galaxy_catalog(5000, seed=1)
    pd.testing.assert_frame_equal(first, simulate_galaxy_catalog(5000, seed=1))
    assert not first["ra"].equals(simulate_galaxy_catalog(5000, seed=2)["ra"])


def test_edge_sizes() -> None:
    assert len(simulate_galaxy_catalog(0)) == 0
    with pytest.raises(ValueError, match="n_rows"):
        simulate_galaxy_catalog(-1)
