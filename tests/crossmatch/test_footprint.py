"""A RANGE MOC footprint (BOOM's Legacy Survey one) answers as mocpy does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from boom_flow.crossmatch.footprint import Footprint
from tests.crossmatch.helpers import sky_points

pytestmark = pytest.mark.shared_data


def test_footprint_contains_what_mocpy_says(shared_data: Path, tmp_path: Path) -> None:
    import astropy.units as u
    from mocpy import MOC

    path = shared_data / "catalogs/boom/ls_footprint_moc.fits"
    footprint = Footprint.read(path)
    ra, dec = sky_points(np.random.default_rng(14), 20_000)
    ra = np.concatenate([ra, [0.0, 359.9999999, 180.0, 45.0, np.nan]])
    dec = np.concatenate([dec, [90.0, -90.0, 0.0, 89.9999, 1.0]])
    inside = footprint.contains(ra, dec)
    finite = np.isfinite(ra)
    expected = MOC.from_fits(str(path)).contains_lonlat(ra[finite] * u.deg, dec[finite] * u.deg)
    assert inside[finite].tolist() == np.asarray(expected).tolist()
    assert 0.6 < inside.mean() < 0.75 and not inside[~finite].any()

    from astropy.io import fits

    cells = tmp_path / "cells.fits"
    hdus = fits.open(path)
    hdus[1].header["ORDERING"] = "NUNIQ"
    hdus.writeto(cells)
    with pytest.raises(ValueError, match="ORDERING = 'RANGE'"):
        Footprint.read(cells)
