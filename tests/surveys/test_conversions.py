"""The conversions on hand-built records, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from boom_flow.core.batch import records_from_table, table_from_records
from boom_flow.surveys import conversions as cv
from boom_flow.surveys import lsst, ztf

LN10_OVER_2_5 = math.log(10) / 2.5  # 0.921034...


def test_isdiffpos_text_flags_become_booleans_and_nulls_stay_null() -> None:
    frame = table_from_records([{"isdiffpos": v, "magpsf": 18.0, "sigmapsf": 0.1, "fid": 1}
                                for v in ["t", "T", "1", "true", "True", "f", "0", "false", "",
                                          None]])
    ztf.convert_detections(frame)
    assert records_from_table(frame[["isdiffpos"]]) == [
        {"isdiffpos": v} for v in [True] * 5 + [False] * 4 + [None]]


def test_ssnamenr_placeholders_become_null_and_names_are_kept() -> None:
    frame = table_from_records([{"ssnamenr": v, "isdiffpos": "t", "fid": 2}
                                for v in ["null", "", "NULL", " ", "2013AB12", None]])
    ztf.convert_detections(frame)
    assert frame["ssnamenr"].tolist()[-2] == "2013AB12"
    assert frame["ssnamenr"].isna().tolist() == [True, True, True, True, False, True]


def test_ztf_fluxes_are_nanojansky_at_zero_point_23_9_signed_by_isdiffpos() -> None:
    # magpsf 18.9 is 5 mag brighter than 23.9 (1 µJy): 100 µJy, stored x 1e9 (BOOM scale).
    frame = table_from_records([
        {"fid": 1, "isdiffpos": "t", "magpsf": 18.9, "sigmapsf": 0.1, "magap": 23.9,
         "sigmagap": 0.5},
        {"fid": 3, "isdiffpos": "f", "magpsf": 18.9, "sigmapsf": 0.1, "magap": 23.9,
         "sigmagap": 0.5},
        {"fid": 4, "isdiffpos": "t", "magpsf": 18.9, "sigmapsf": 0.1, "magap": None,
         "sigmagap": None},
    ])
    ztf.convert_detections(frame)
    rows = records_from_table(frame)
    assert rows[0]["psfFlux"] == pytest.approx(100e9)
    assert rows[1]["psfFlux"] == pytest.approx(-100e9)
    assert rows[0]["psfFluxErr"] == pytest.approx(0.1 * LN10_OVER_2_5 * 100e9)
    assert rows[1]["psfFluxErr"] == pytest.approx(9.210340371976183e9)
    assert rows[0]["snr_psf"] == pytest.approx(10.857362047581296)  # 1 / (0.1 ln10/2.5)
    assert rows[0]["snr"] == rows[0]["snr_psf"]
    assert rows[0]["apFlux"] == pytest.approx(1e9)
    assert rows[1]["apFlux"] == pytest.approx(-1e9)
    assert rows[0]["apFluxErr"] == pytest.approx(4.605170185988091e8)
    assert rows[0]["snr_ap"] == pytest.approx(2.1714724095162592)
    assert [r["band"] for r in rows] == ["g", "i", None]
    assert rows[2]["apFlux"] is None and rows[2]["snr_ap"] is None


def test_ztf_non_detection_gets_its_flux_error_from_the_limiting_magnitude() -> None:
    # diffmaglim 20.4 = 5 sigma: sigma = 10**(-0.4 (20.4 - 23.9)) / 5 µJy = 5.0237728 µJy.
    frame = table_from_records([{"fid": 2, "magpsf": None, "sigmapsf": None, "isdiffpos": None,
                                 "diffmaglim": 20.4}])
    ztf.convert_detections(frame)
    row = records_from_table(frame)[0]
    assert row["psfFluxErr"] == pytest.approx(5.023772863019161e9)
    assert row["psfFlux"] is None and row["snr_psf"] is None and row["band"] == "r"


def test_ztf_forced_photometry_to_boom_flux_scale_with_sentinels_dropped() -> None:
    # 100 DN at magzpsci 26.4: 10**((23.9 - 26.4) / 2.5) = 0.1 µJy per DN -> 10 µJy.
    frame = table_from_records([
        {"fid": 1, "jd": 1.0, "forcediffimflux": 100.0, "forcediffimfluxunc": 10.0,
         "magzpsci": 26.4},
        {"fid": 1, "jd": 2.0, "forcediffimflux": -99999.0, "forcediffimfluxunc": -99999.0,
         "magzpsci": 26.4},
        {"fid": 1, "jd": 3.0, "forcediffimflux": float("nan"), "forcediffimfluxunc": 10.0,
         "magzpsci": 26.4},
        {"fid": 1, "jd": 4.0, "forcediffimflux": 5.0, "forcediffimfluxunc": -99999.0,
         "magzpsci": 26.4},
        {"fid": 2, "jd": 5.0, "forcediffimflux": -20.0, "forcediffimfluxunc": 10.0,
         "magzpsci": 26.4},
        {"fid": 2, "jd": 6.0, "forcediffimflux": 20.0, "forcediffimfluxunc": 1.0,
         "magzpsci": None},
    ])
    rows = records_from_table(ztf.convert_forced(frame))
    assert [r["jd"] for r in rows] == [1.0, 5.0]
    detected, faint = rows
    assert detected["psfFlux"] == pytest.approx(1e10)
    assert detected["psfFluxErr"] == pytest.approx(1e9)
    assert detected["magpsf"] == pytest.approx(21.4)  # 26.4 - 2.5 log10(100)
    assert detected["sigmapsf"] == pytest.approx(0.10857362047581294)
    assert detected["isdiffpos"] is True and detected["snr_psf"] == pytest.approx(10.0)
    # SNR 2: a flux but no magnitude, no sign, no snr (BOOM's threshold is 3).
    assert faint["psfFlux"] == pytest.approx(-2e9)
    assert faint["magpsf"] is None and faint["isdiffpos"] is None and faint["snr_psf"] is None
    assert faint["band"] == "r"


def test_lsst_magnitudes_from_absolute_nanojansky_fluxes_at_31_4() -> None:
    frame = table_from_records([
        {"diaSourceId": 1, "diaObjectId": 7, "ssObjectId": 0, "midpointMjdTai": 60000.0,
         "psfFlux": -1000.0, "psfFluxErr": 100.0, "apFlux": 10000.0, "apFluxErr": 1000.0,
         "psfChi2": 30.0, "psfNdata": 15, "band": "r", "snr": 9.0},
        {"diaSourceId": 2, "diaObjectId": 0, "ssObjectId": 99, "midpointMjdTai": 60000.5,
         "psfFlux": None, "psfFluxErr": 100.0, "apFlux": 0.0, "apFluxErr": 1000.0,
         "psfChi2": 30.0, "psfNdata": 0, "band": "g", "snr": None},
    ])
    lsst.convert_sources(frame)
    first, second = records_from_table(frame)
    assert first["magpsf"] == pytest.approx(23.9)  # 31.4 - 2.5 log10(1000)
    assert first["sigmapsf"] == pytest.approx(0.10857362047581294)
    assert first["diffmaglim"] == pytest.approx(24.652574989159953)  # 31.4 - 2.5 log10(500)
    assert first["magap"] == pytest.approx(21.4) and first["sigmagap"] == pytest.approx(0.10857362)
    assert first["isdiffpos"] is False
    assert first["snr_psf"] == pytest.approx(10.0) and first["snr_ap"] == pytest.approx(10.0)
    assert first["snr"] == 9.0  # Rubin's own field, untouched
    assert first["chipsf"] == pytest.approx(2.0)
    assert first["jd"] == pytest.approx(2460000.5 - 37 / 86400, abs=1e-9)
    assert first["ssObjectId"] is None and first["diaObjectId"] == 7
    assert second["diaObjectId"] is None and second["ssObjectId"] == 99
    assert second["isdiffpos"] is None and second["magpsf"] is None
    assert second["magap"] is None  # zero flux: no magnitude
    assert second["chipsf"] is None  # no data points


def test_lsst_forced_sources_and_nondetection_limits() -> None:
    forced = table_from_records([
        {"midpointMjdTai": 60000.0, "psfFlux": 500.0, "psfFluxErr": 100.0, "band": "i"},
        {"midpointMjdTai": 60001.0, "psfFlux": -200.0, "psfFluxErr": 100.0, "band": "i"},
        {"midpointMjdTai": 60002.0, "psfFlux": 200.0, "psfFluxErr": None, "band": "i"},
    ])
    rows = records_from_table(lsst.convert_forced(forced))
    assert len(rows) == 2
    assert rows[0]["magpsf"] == pytest.approx(31.4 - 2.5 * math.log10(500))
    assert rows[0]["isdiffpos"] is True and rows[0]["snr_psf"] == pytest.approx(5.0)
    assert rows[1]["magpsf"] is None and rows[1]["isdiffpos"] is None  # SNR 2
    assert rows[1]["diffmaglim"] == pytest.approx(24.652574989159953)
    limits = table_from_records([{"ccdVisitId": 1, "midpointMjdTai": 57000.0, "band": "g",
                                  "diaNoise": 100.0}])
    row = records_from_table(lsst.convert_limits(limits))[0]
    assert row["diffmaglim"] == pytest.approx(24.652574989159953)
    assert row["psfFluxErr"] == 100.0
    assert row["jd"] == pytest.approx(2457000.5 - 35 / 86400, abs=1e-9)  # 35 leap s in 2014


@pytest.mark.parametrize(("mjd", "leap_seconds"), [
    (40000.0, 0), (41317.0 + 10 / 86400, 10), (51179.0, 31), (53736.0 + 33 / 86400, 33),
    (57753.9, 36), (57754.0 + 37 / 86400, 37), (61000.0, 37),
])
def test_tai_to_utc_uses_the_leap_seconds_in_force(mjd: float, leap_seconds: int) -> None:
    jd = cv.mjd_tai_to_jd_utc(np.array([mjd]))[0]
    assert jd == pytest.approx(mjd + 2400000.5 - leap_seconds / 86400, abs=1e-9)


def test_conversions_of_empty_tables_are_empty() -> None:
    empty = table_from_records([])
    ztf.convert_detections(empty)
    lsst.convert_sources(empty)
    assert len(ztf.convert_forced(empty)) == 0 and len(lsst.convert_forced(empty)) == 0
