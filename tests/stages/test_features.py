"""The features stage on hand-made batches: BTSbot features and properties by hand."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from boom_flow.config import load_settings
from boom_flow.core import AlertBatch, KnownHistory
from boom_flow.stages import StageConfigError, configure_stage
from boom_flow.stages.features import (
    PREFIX,
    FeaturesStage,
    flags,
    lightcurve_features,
    properties,
)

T0 = 2460000.5


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


HISTORY = ["objectId", "jd", "magpsf", "sigmapsf", "snr_psf", "band"]


def make_batch(candidates: list[dict[str, Any]], object_ids: list[str],
               prv: list[dict[str, Any]] = (), known: list[dict[str, Any]] = (),
               fp: list[dict[str, Any]] = ()) -> AlertBatch:
    """A decoded-like batch from plain rows (no server, no packet)."""
    empty = _frame([], HISTORY)
    history = KnownHistory(objects=pd.DataFrame({"objectId": sorted(set(object_ids))}),
                           prv_candidates=_frame(list(known), HISTORY),
                           prv_nondetections=empty, fp_hists=empty)
    ids = list(range(1, len(candidates) + 1))
    return AlertBatch(
        survey="ZTF",
        alerts=pd.DataFrame({"_id": ids, "objectId": object_ids}),
        candidates=pd.DataFrame(candidates),
        prv_candidates=_frame(list(prv), HISTORY), prv_nondetections=empty,
        fp_hists=_frame(list(fp), [*HISTORY, "procstatus"]),
        cutouts=pd.DataFrame({"_id": ids}), known=history,
    )


def point(obj: str, dt: float, mag: float, err: float = 0.1, band: str = "r"
          ) -> dict[str, Any]:
    return {"objectId": obj, "jd": T0 + dt, "magpsf": mag, "sigmapsf": err,
            "snr_psf": 1.0857 / err, "band": band}


def candidate(dt: float, mag: float, err: float = 0.1, band: str = "r", **extra: Any
              ) -> dict[str, Any]:
    row = {"jd": T0 + dt, "magpsf": mag, "sigmapsf": err, "snr_psf": 1.0857 / err,
           "band": band, "ncovhist": 40, "ndethist": 6}
    return {**row, **extra}


def test_btsbot_features_by_hand_with_unordered_and_duplicate_history() -> None:
    # Object A: the archive knows day 0 (19.8); packets repeat it, bring days 3 and 1
    # out of order, and a day-3 duplicate; alerts on day 5 (18.9) and day 8 (19.4).
    # Object B: a single first detection.
    known = [point("A", 0, 19.8)]
    prv = [point("A", 3, 18.7), point("A", 0, 19.8), point("A", 1, 19.2),
           point("A", 3, 18.7), point("A", 5, 18.9)]
    batch = make_batch([candidate(8, 19.4), candidate(5, 18.9), candidate(2, 20.5)],
                       ["A", "A", "B"], prv=prv, known=known)
    lc = lightcurve_features(batch)
    # Day-8 alert: detections days 0, 1, 3, 5, 8; peak 18.7 on day 3.
    assert lc.loc[0].to_dict() == pytest.approx({
        "age": 8.0, "peakmag_so_far": 18.7, "maxmag_so_far": 19.8,
        "days_since_peak": 5.0, "days_to_peak": 3.0, "nnotdet": 34.0})
    # Day-5 alert sees nothing later than day 5 (no look-ahead to the day-8 alert).
    assert lc.loc[1].to_dict() == pytest.approx({
        "age": 5.0, "peakmag_so_far": 18.7, "maxmag_so_far": 19.8,
        "days_since_peak": 2.0, "days_to_peak": 3.0, "nnotdet": 34.0})
    assert lc.loc[2].to_dict() == pytest.approx({
        "age": 0.0, "peakmag_so_far": 20.5, "maxmag_so_far": 20.5,
        "days_since_peak": 0.0, "days_to_peak": 0.0, "nnotdet": 34.0})


def test_peak_ties_take_the_first_epoch() -> None:
    batch = make_batch([candidate(4, 18.5)], ["A"], prv=[point("A", 1, 18.5),
                                                         point("A", 2, 19.0)])
    lc = lightcurve_features(batch).loc[0]
    assert lc["days_to_peak"] == pytest.approx(0.0) and lc["days_since_peak"] == pytest.approx(3)


def test_photstats_by_hand() -> None:
    # r: 20.0 (d0), 19.0 (d1), 18.5 (d2, peak), then the alert 19.5 (d4).
    # g: 19.0 (d0), 19.1 (d1): a change within the errors, so no fading fit.
    prv = [point("A", 1, 19.0), point("A", 0, 20.0), point("A", 2, 18.5),
           point("A", 0.5, 19.0, 0.2, "g"), point("A", 1.5, 19.1, 0.2, "g")]
    # A forced point at SNR 2 is ignored; one at SNR 10 counts (r, day 3).
    fp = [{**point("A", 2.5, 18.0), "snr_psf": 2.0, "procstatus": "0"},
          {**point("A", 3, 19.0), "snr_psf": 10.0, "procstatus": "0"},
          {**point("A", 3.5, 17.0), "procstatus": "57"}]
    batch = make_batch([candidate(4, 19.5), candidate(0, 20.0)], ["A", "A"], prv=prv, fp=fp)
    stage = FeaturesStage()
    out = stage(batch)
    first, second = out.enrichments["properties"].tolist()
    r = first["photstats"]["r"]
    assert r["peak_jd"] == T0 + 2 and r["peak_mag"] == 18.5 and r["dt"] == pytest.approx(4)
    # Rising: equal weights through (0, 20.0), (1, 19.0), (2, 18.5).
    slope, intercept = np.polyfit([0, 1, 2], [20.0, 19.0, 18.5], 1)
    chi2 = sum((y - (slope * x + intercept)) ** 2 / 0.01
               for x, y in zip([0, 1, 2], [20.0, 19.0, 18.5], strict=True))
    assert r["rising"] == pytest.approx({"rate": slope, "rate_error": math.sqrt(1 / 200),
                                         "red_chi2": chi2 / 1, "nb_data": 3, "dt": 2.0})
    # Fading: (2, 18.5), (3, 19.0 forced), (4, 19.5): slope 0.5, a perfect line.
    fading = r["fading"]
    assert fading["rate"] == pytest.approx(0.5) and fading["nb_data"] == 3
    assert fading["red_chi2"] == pytest.approx(0.0, abs=1e-9)
    assert fading["rate_error"] == pytest.approx(math.sqrt(1 / 200))
    g = first["photstats"]["g"]
    assert g["peak_mag"] == 19.0 and g["rising"] is None and g["fading"] is None
    assert first["photstats"]["all"] == pytest.approx({
        "peak_jd": T0 + 2, "peak_mag": 18.5, "peak_mag_err": 0.1, "peak_band": "r",
        "faintest_jd": T0, "faintest_mag": 20.0, "faintest_mag_err": 0.1,
        "faintest_band": "r", "first_jd": T0, "last_jd": T0 + 4})
    assert first["stationary"] is True
    # The day-0 alert: one point only.
    assert second["stationary"] is False and set(second["photstats"]) == {"r", "all"}
    assert second["photstats"]["r"]["rising"] is None
    assert set(out.enrichments) >= {PREFIX + "age", "properties"}


def test_two_point_fit_has_no_reduced_chi2() -> None:
    batch = make_batch([candidate(1, 19.0)], ["A"], prv=[point("A", 0, 20.0)])
    stats = FeaturesStage()(batch).enrichments["properties"][0]["photstats"]
    rising = stats["r"]["rising"]
    assert rising["rate"] == pytest.approx(-1.0) and math.isnan(rising["red_chi2"])


def test_star_bright_star_and_rock_flags() -> None:
    base = candidate(0, 19.0)
    rows = [
        {**base, "sgscore1": 0.9, "distpsnr1": 1.0},                      # star
        {**base, "sgscore1": 0.3, "distpsnr1": 0.5, "srmag1": 20.0, "szmag1": 16.5},  # red star
        {**base, "neargaiabright": 10.0, "maggaiabright": 11.0},          # bright Gaia star
        {**base, "sgscore2": 0.6, "distpsnr2": 15.0, "srmag2": 14.0},     # bright PS1 star
        {**base, "ssdistnr": 3.0, "ssmagnr": 19.5},                       # a known asteroid
        {**base, "ssdistnr": -999.0, "ssmagnr": -999.0, "sgscore1": 0.5, "distpsnr1": 3.0},
    ]
    batch = make_batch(rows, [f"O{i}" for i in range(len(rows))])
    result = flags(batch)
    assert result["star"].tolist() == [True, True, False, False, False, False]
    assert result["near_brightstar"].tolist() == [False, False, True, True, False, False]
    assert result["rock"].tolist() == [False, False, False, False, True, False]


def test_features_stage_refuses_unknown_settings() -> None:
    with pytest.raises(StageConfigError, match="unknown features settings: window"):
        configure_stage(load_settings(environ={}), "ztf", "features", {"window": 3})
    with pytest.raises(FileNotFoundError):
        configure_stage(load_settings(environ={}), "lsst", "features",
                        {"footprint_moc": "/nonexistent/moc.fits"})


def test_lsst_star_flags_come_from_the_point_source_catalog() -> None:
    """BOOM's LSST rule: a point source (score > 0.5) within 1" makes a star, one of
    mag_white <= 15 within 20" a bright neighbour; never matched: unknown."""
    from dataclasses import replace

    from boom_flow.stages.point_sources import catalog_flags

    rows = [{"jd": 2460000.5, "ra": 10.0, "dec": -5.0}] * 6
    batch = replace(make_batch(rows, [f"O{i}" for i in range(6)]), survey="LSST")
    matches = [
        {"LSPSC": [{"distance_arcsec": 0.4, "score": 0.9, "mag_white": 19.0}]},   # star
        {"LSPSC": [{"distance_arcsec": 0.4, "score": 0.3, "mag_white": 19.0},     # galaxy,
                   {"distance_arcsec": 15.0, "score": 0.8, "mag_white": 14.0}]},  # bright
        {"LSPSC": [{"distance_arcsec": 25.0, "score": 0.9, "mag_white": 10.0}]},  # too far
        {"LSPSC": []},                                                             # nothing
        {"GCVS": []},                              # never matched with the point sources
        {"LSPSC": [{"distance_arcsec": 0.2, "mag_white": 12.0}]},            # no score
    ]
    batch = batch.with_enrichment("cross_matches", pd.Series(matches, dtype=object))
    flags = catalog_flags(batch, "LSPSC")
    assert flags["star"].tolist() == [True, False, False, False, None, False]
    assert flags["near_brightstar"].tolist() == [False, True, False, False, None, False]
    stored = properties(batch)[4]
    assert stored["star"] is None and stored["rock"] is False


@pytest.mark.parametrize("seed", range(6))
def test_a_light_curve_s_fits_do_not_depend_on_the_rest_of_the_batch(seed: int) -> None:
    # The same alert alone and among other objects' alerts (their bands interleaved in
    # time, as real light curves are) must give the very same bits: otherwise a
    # stored document would depend on how the stream was cut into batches.
    rng = np.random.default_rng(seed)

    def light_curve(obj: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        days = np.sort(rng.random(12) * 30)
        rows = [point(obj, float(day), float(np.float32(16 + rng.random())),
                      float(np.float32(0.02 + 0.1 * rng.random())), "rg"[i % 2])
                for i, day in enumerate(days[:-1])]
        return candidate(float(days[-1]), 16.5, 0.05), rows

    mine, mine_prv = light_curve("A")
    alone = FeaturesStage()(make_batch([mine], ["A"], prv=mine_prv))
    for size in (3, 12, 40):
        others = [light_curve(f"B{i}") for i in range(size)]
        batch = make_batch([c for c, _ in others] + [mine], [f"B{i}" for i in range(size)] + ["A"],
                           prv=[p for _, rows in others for p in rows] + mine_prv)
        among = FeaturesStage()(batch)
        # As text: every float to its last bit, and NaN equal to NaN.
        assert (json.dumps(among.enrichments["properties"].iloc[-1], sort_keys=True)
                == json.dumps(alone.enrichments["properties"][0], sort_keys=True))
