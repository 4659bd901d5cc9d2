"""``properties.photstats``: light-curve statistics per band and over all bands.

Definitions follow BOOM (``src/utils/lightcurves.rs``, ``analyze_photometry``), computed
for the whole batch at once with grouped columnar operations instead of a loop per alert:

- points: the object's detections up to the alert (with ``magpsf``, ``sigmapsf`` and
  ``snr_psf``) plus forced-photometry points with |SNR| >= 3 (and ``procstatus`` "0"
  where given), sorted by time, one per (time, band), detections first;
- per band: the peak (brightest point, first one on ties) ``peak_jd``, ``peak_mag``,
  ``peak_mag_err``; ``dt`` (last - first time); ``rising`` / ``fading``: a weighted
  least-squares line (weights 1/sigma^2) through the points up to / from the peak, with
  ``rate`` (mag/day), ``rate_error``, ``red_chi2`` (NaN -> null for two points),
  ``nb_data`` and ``dt`` -- only when the segment has two points or more spanning over
  0.01 day and its extremes differ by more than their errors (else null);
- ``all``: ``peak_*`` and ``faintest_*`` (with their band), ``first_jd``, ``last_jd``;
- ``stationary``: the points span more than 0.01 day (seen twice, so not a fast mover).

Computed in float64 (BOOM uses float32): the values agree to float32 precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from boom_flow.core import AlertBatch
from boom_flow.core.history import points_until_alert

MIN_SPAN_DAYS = 0.01
FORCED_MIN_SNR = 3.0
_COLUMNS = ["alert", "jd", "band", "mag", "err"]
#: The point fields the statistics read.
_FIELDS = ("band", "magpsf", "sigmapsf", "snr_psf", "procstatus")


def _floats(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return frame[name].to_numpy(dtype="float64", na_value=np.nan)


def _points(batch: AlertBatch, kind: str, min_snr: float | None) -> pd.DataFrame:
    joined = points_until_alert(batch, kind, _FIELDS)
    if not len(joined) or "band" not in joined.columns:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in _COLUMNS})
    mag, err, snr = (_floats(joined, n) for n in ("magpsf", "sigmapsf", "snr_psf"))
    keep = np.isfinite(mag) & np.isfinite(err) & np.isfinite(snr)
    keep &= joined["band"].notna().to_numpy()
    if min_snr is not None:
        keep &= np.abs(snr) >= min_snr
    if "procstatus" in joined.columns:
        keep &= (joined["procstatus"].astype(object) == "0").to_numpy()
    return pd.DataFrame({
        "alert": joined["alert"].to_numpy()[keep],
        "jd": joined["jd"].to_numpy(dtype="float64")[keep],
        "band": joined["band"].astype(object).to_numpy()[keep],
        "mag": mag[keep], "err": err[keep],
    })


def photometry(batch: AlertBatch) -> pd.DataFrame:
    """Every alert's points (``alert``, ``jd``, ``band``, ``mag``, ``err``), sorted."""
    points = pd.concat([_points(batch, "prv_candidates", None),
                        _points(batch, "fp_hists", FORCED_MIN_SNR)], ignore_index=True)
    points = points.astype({"alert": "int64", "jd": "float64", "mag": "float64",
                            "err": "float64"})
    return (points.sort_values(["alert", "jd"], kind="stable")
            .drop_duplicates(["alert", "jd", "band"]).reset_index(drop=True))


def _first_extreme(frame: pd.DataFrame, keys: list[str], value: str, largest: bool
                   ) -> pd.Index:
    """Row labels of each group's first minimum (or maximum) of ``value``."""
    grouped = frame.groupby(keys, sort=False)[value]
    return pd.Index(grouped.idxmax() if largest else grouped.idxmin())


def _segment_fits(segment: pd.DataFrame) -> pd.DataFrame:
    """Weighted straight-line fits per ``group`` of (x = days since the segment's first
    point, y = mag, sigma = err), as BOOM's ``weighted_least_squares_centered``.

    The sums run point after point within each group (``np.bincount``), as BOOM's do:
    a group's fit is then the same bits whatever other groups share the batch
    (pandas' grouped sum is not: its result for one group moved by an ulp with
    the batch's other light curves, so a fit depended on how the stream was cut)."""
    codes, groups = pd.factorize(segment["group"], sort=False)
    count = np.bincount(codes, minlength=len(groups))

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=values, minlength=len(groups))

    jd = segment["jd"].to_numpy(dtype=np.float64)
    start = np.full(len(groups), np.inf)
    np.minimum.at(start, codes, jd)
    x = jd - start[codes]
    y = segment["mag"].to_numpy(dtype=np.float64)
    sigma = segment["err"].to_numpy(dtype=np.float64)
    w = 1.0 / sigma**2
    sw, swx, swy = total(w), total(w * x), total(w * y)
    dx, dy = x - (swx / sw)[codes], y - (swy / sw)[codes]
    sxx, sxy = total(w * dx * dx), total(w * dx * dy)
    rate = sxy / sxx
    intercept = (swy - rate * swx) / sw
    chi2 = total(((y - (rate[codes] * x + intercept[codes])) / sigma) ** 2)
    span = np.full(len(groups), -np.inf)
    np.maximum.at(span, codes, x)
    bad_sigma = np.bincount(codes, weights=~(np.isfinite(sigma) & (sigma > 0)),
                            minlength=len(groups)) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        fits = pd.DataFrame({
            "rate": rate, "rate_error": np.sqrt(1.0 / sxx),
            "red_chi2": np.where(count > 2, chi2 / (count - 2), np.nan),
            "nb_data": count, "dt": span,
        }, index=pd.Index(groups, name="group"))
    return fits[(np.abs(sxx) >= 1e-10) & ~bad_sigma]


def _segments(points: pd.DataFrame, peak_jd: pd.Series, rising: bool) -> pd.DataFrame:
    """Fits of the segment before (``rising``) or after each band's peak."""
    at_peak = points["group"].map(peak_jd)
    side = points[(points["jd"] <= at_peak) if rising else (points["jd"] >= at_peak)]
    if not len(side):
        return pd.DataFrame(columns=["rate", "rate_error", "red_chi2", "nb_data", "dt"])
    group = side.groupby("group", sort=False)
    span = group["jd"].max() - group["jd"].min()
    low = side.loc[_first_extreme(side, ["group"], "mag", largest=False)].set_index("group")
    high = side.loc[_first_extreme(side, ["group"], "mag", largest=True)].set_index("group")
    # A segment within its own noise has no slope worth reporting.
    varies = (low["mag"] + low["err"]) < (high["mag"] - high["err"])
    usable = (group.size() > 1) & (span > MIN_SPAN_DAYS) & varies.reindex(span.index)
    side = side[side["group"].map(usable).fillna(False).astype(bool)]
    if not len(side):
        return pd.DataFrame(columns=["rate", "rate_error", "red_chi2", "nb_data", "dt"])
    return _segment_fits(side)


def _fit_dict(row: Any) -> dict[str, Any] | None:
    if row is None or (isinstance(row, float) and np.isnan(row)):
        return None
    return {"rate": float(row["rate"]), "rate_error": float(row["rate_error"]),
            "red_chi2": float(row["red_chi2"]), "nb_data": int(row["nb_data"]),
            "dt": float(row["dt"])}


def photstats(batch: AlertBatch) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Per alert, the ``photstats`` dict ({} without usable points) and ``stationary``."""
    points = photometry(batch)
    results: list[dict[str, Any]] = [{} for _ in range(len(batch))]
    stationary = np.zeros(len(batch), dtype=bool)
    if not len(points):
        return results, stationary
    points["group"] = points.groupby(["alert", "band"], sort=False).ngroup()
    by_band = points.groupby("group", sort=False)
    peaks = points.loc[_first_extreme(points, ["group"], "mag", largest=False)]
    peak_jd = peaks.set_index("group")["jd"]
    bands = peaks.set_index("group")[["alert", "band", "jd", "mag", "err"]].join(
        (by_band["jd"].max() - by_band["jd"].min()).rename("dt"))
    rising = _segments(points, peak_jd, rising=True).to_dict("index")
    fading = _segments(points, peak_jd, rising=False).to_dict("index")
    for group, row in zip(bands.index, bands.itertuples(index=False), strict=True):
        results[row.alert][row.band] = {
            "peak_jd": float(row.jd), "peak_mag": float(row.mag),
            "peak_mag_err": float(row.err), "dt": float(row.dt),
            "rising": _fit_dict(rising.get(group)), "fading": _fit_dict(fading.get(group)),
        }
    by_alert = points.groupby("alert", sort=False)
    bright = points.loc[_first_extreme(points, ["alert"], "mag", largest=False)]
    faint = points.loc[_first_extreme(points, ["alert"], "mag", largest=True)]
    first, last = by_alert["jd"].min(), by_alert["jd"].max()
    first_jd, last_jd = first.to_dict(), last.to_dict()
    for b, f in zip(bright.itertuples(index=False), faint.itertuples(index=False),
                    strict=True):
        alert = b.alert
        results[alert]["all"] = {
            "peak_jd": float(b.jd), "peak_mag": float(b.mag),
            "peak_mag_err": float(b.err), "peak_band": b.band,
            "faintest_jd": float(f.jd), "faintest_mag": float(f.mag),
            "faintest_mag_err": float(f.err), "faintest_band": f.band,
            "first_jd": float(first_jd[alert]), "last_jd": float(last_jd[alert]),
        }
    span = (last - first).reindex(range(len(batch)), fill_value=0.0).to_numpy()
    stationary[:] = span > MIN_SPAN_DAYS
    return results, stationary
