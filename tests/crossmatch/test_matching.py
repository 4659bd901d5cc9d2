"""Matching against brute-force great-circle distances, and BOOM's distance rule."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from boom_flow.crossmatch.matching import CatalogSpec, match_catalog
from tests.crossmatch.helpers import brute_force, ingest, scatter_around, sky_points

#: Places where pixel geometry is awkward: both poles, RA 0/360, base-pixel corners.
HARD_PLACES = [(0.0, 90.0), (123.0, 89.9995), (0.0, -90.0), (271.0, -89.9993),
               (0.0, 0.0), (359.99995, 12.0), (0.00003, -45.0), (45.0, 41.8103),
               (90.0, -41.8103), (180.0, 0.0)]


def _catalog_near_hard_places(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    parts = [sky_points(rng, 3000)]
    for ra, dec in HARD_PLACES:
        parts.append(scatter_around(rng, ra, dec, 400, 30.0))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


@pytest.mark.parametrize("radius", [2.0, 10.0, 300.0])
def test_matches_equal_brute_force_everywhere_including_poles_and_ra_wrap(
        tmp_path: Path, radius: float) -> None:
    cat_ra, cat_dec = _catalog_near_hard_places(1)
    # Small partitions: several orders at once, dense pixels split down deep.
    reader = ingest(tmp_path, "SYN", {"ra": cat_ra, "dec": cat_dec,
                                      "row": np.arange(len(cat_ra))}, max_rows=300)
    assert len({p.order for p in reader.partitions}) >= 3
    rng = np.random.default_rng(2)
    probes = [sky_points(rng, 300)] + [scatter_around(rng, ra, dec, 40, 20.0)
                                       for ra, dec in HARD_PLACES]
    ra = np.concatenate([p[0] for p in probes])
    dec = np.concatenate([p[1] for p in probes])
    spec = CatalogSpec("SYN", radius, projection={"row": 1})
    found = match_catalog(reader, spec, ra, dec)
    expected = brute_force(ra, dec, cat_ra, cat_dec, radius)
    assert [{m["row"] for m in matches} for matches in found] == expected
    assert sum(len(e) for e in expected) > 200  # the test does exercise matches
    for matches in found:
        distances = [m["distance_arcsec"] for m in matches]
        assert distances == sorted(distances) and all(d <= radius for d in distances)
        assert all(set(m) == {"row", "distance_arcsec"} for m in matches)


def test_distance_arcsec_is_the_great_circle_separation(tmp_path: Path) -> None:
    # 1.5" north of a star at the pole-side edge of the RA wrap.
    reader = ingest(tmp_path, "ONE", {"ra": [359.9999], "dec": [60.0], "name": ["a"]})
    found = match_catalog(reader, CatalogSpec("ONE", 2.0), np.array([359.9999]),
                          np.array([60.0 + 1.5 / 3600]))
    assert found[0][0]["name"] == "a"
    assert found[0][0]["distance_arcsec"] == pytest.approx(1.5, abs=1e-6)
    assert match_catalog(reader, CatalogSpec("ONE", 1.4), np.array([359.9999]),
                         np.array([60.0 + 1.5 / 3600])) == [[]]


def test_max_results_keeps_the_nearest_and_projection_selects_columns(tmp_path: Path) -> None:
    offsets = np.array([1.0, 0.2, 1.7, 0.6])  # arcsec north of (10, 20)
    reader = ingest(tmp_path, "FOUR", {"ra": np.full(4, 10.0), "dec": 20.0 + offsets / 3600,
                                       "name": ["a", "b", "c", "d"], "mag": [1.0, 2, 3, 4]})
    probe = (np.array([10.0, 200.0]), np.array([20.0, -20.0]))
    found = match_catalog(reader, CatalogSpec("FOUR", 2.0, projection={"name": 1},
                                              max_results=2), *probe)
    assert [m["name"] for m in found[0]] == ["b", "d"]
    assert found[1] == []
    excluded = match_catalog(reader, CatalogSpec("FOUR", 2.0, projection={"mag": 0}), *probe)
    assert [sorted(m) for m in excluded[0]] == [["dec", "distance_arcsec", "name", "ra"]] * 4


def test_distance_rule_against_hand_computed_expectations(tmp_path: Path) -> None:
    """NED-like: radius 300", distance_max 30 kpc, distance_max_near 300".

    Galaxy (separation", z) -> kept?, distance_kpc:
    - far   (20", 0.10): limit 30*0.05/0.10 = 15"   -> dropped
    - far   (10", 0.10): limit 15"                   -> kept, 10*0.10/0.05 = 20 kpc
    - mid   (50", 0.02): limit 30*0.05/0.02 = 75"   -> kept, 50*0.02/0.05 = 20 kpc
    - mid   (80", 0.02): limit 75"                   -> dropped
    - near  (250", 0.008): z < 0.01, limit 300"     -> kept, 250*0.008/0.05 = 40 kpc
    - vnear (100", 0.004): z < 0.01, limit 300"     -> kept, z <= 0.005 -> -1
    - edge  (120", 0.005): limit 300"                -> kept, z <= 0.005 -> -1
    - noz   (30", null): no redshift                 -> dropped
    - out   (310", 0.001): beyond the 300" radius    -> dropped
    """
    centre_ra, centre_dec = 150.0, 2.0
    galaxies = [("far1", 20, 0.10), ("far2", 10, 0.10), ("mid1", 50, 0.02),
                ("mid2", 80, 0.02), ("near", 250, 0.008), ("vnear", 100, 0.004),
                ("edge", 120, 0.005), ("noz", 30, None), ("out", 310, 0.001)]
    names = [g[0] for g in galaxies]
    # Place each one its separation due north of the centre.
    dec = [centre_dec + g[1] / 3600 for g in galaxies]
    reader = ingest(tmp_path, "NED", {"ra": np.full(len(galaxies), centre_ra), "dec": dec,
                                      "name": names, "z": [g[2] for g in galaxies]})
    spec = CatalogSpec("NED", 300.0, use_distance=True, distance_key="z", distance_max=30.0,
                       distance_max_near=300.0, projection={"name": 1, "z": 1})
    found = match_catalog(reader, spec, np.array([centre_ra]), np.array([centre_dec]))[0]
    got = {m["name"]: (round(m["distance_arcsec"], 6), round(m["distance_kpc"], 6))
           for m in found}
    assert got == {"far2": (10.0, 20.0), "mid1": (50.0, 20.0), "near": (250.0, 40.0),
                   "vnear": (100.0, -1.0), "edge": (120.0, -1.0)}
    assert [m["name"] for m in found] == ["far2", "mid1", "vnear", "edge", "near"]


def test_specs_pickle_for_the_workers_and_refuse_bad_settings() -> None:
    specs = [CatalogSpec("A", 2.0, projection={"x": 1}, max_results=1),
             CatalogSpec("N", 300.0, True, "z", 30.0, 300.0)]
    assert pickle.loads(pickle.dumps(specs)) == specs
    with pytest.raises(ValueError, match="use_distance needs"):
        CatalogSpec("N", 300.0, use_distance=True)
    with pytest.raises(ValueError, match="radius"):
        CatalogSpec("A", 0.0)
