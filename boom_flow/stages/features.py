"""The features stage: light-curve features and the ``properties`` of each alert.

Two outputs, computed for the whole batch at once from the object's light curve as it
stood at each alert (``core.history``: archive + packets, nothing later than the alert):

- the BTSbot light-curve features (ml.md) over the detections up to and including the
  alert: ``age = jd - first detection``, ``peakmag_so_far`` (brightest ``magpsf``),
  ``maxmag_so_far`` (faintest), ``days_since_peak = jd - jd at peak``, ``days_to_peak =
  jd at peak - first detection`` (first peak on ties), ``nnotdet = ncovhist - ndethist``.
  They go to private enrichments ``_lc.<name>`` (for the classify stage, not stored);
  ``lightcurve_features`` recomputes them when the stage did not run.
- ``properties`` (data-model.md), with BOOM's definitions (``src/enrichment/ztf.rs``):
  ``rock`` (ZTF ``ssdistnr`` in [0, 12) arcsec with a known ``ssmagnr``; LSST: an
  ``ssObjectId``), ``star`` and ``near_brightstar`` (PS1 / Gaia neighbours), and
  ``stationary`` and ``photstats`` from ``photstats.py``. A catalogue field absent from
  the packet counts as "no neighbour", as in BOOM.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from boom_flow.core import AlertBatch
from boom_flow.core.history import points_until_alert
from boom_flow.stages import Stage
from boom_flow.stages.photstats import photstats

LIGHTCURVE_FEATURES = ("age", "peakmag_so_far", "maxmag_so_far", "days_since_peak",
                       "days_to_peak", "nnotdet")
PREFIX = "_lc."


def _column(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), default)
    values = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isnan(values), default, values)


def lightcurve_features(batch: AlertBatch) -> pd.DataFrame:
    """The BTSbot light-curve features, one row per alert (NaN where undefined)."""
    rows = len(batch)
    jd = batch.candidates["jd"].to_numpy(dtype="float64", na_value=np.nan)
    joined = points_until_alert(batch, "prv_candidates")
    out = pd.DataFrame(index=pd.RangeIndex(rows), columns=list(LIGHTCURVE_FEATURES),
                       dtype="float64")
    if len(joined) and "magpsf" in joined.columns:
        mag = joined["magpsf"].to_numpy(dtype="float64", na_value=np.nan)
        detections = pd.DataFrame({"alert": joined["alert"].to_numpy(),
                                   "jd": joined["jd"].to_numpy(dtype="float64"), "mag": mag})
        detections = (detections[np.isfinite(mag)]
                      .sort_values(["alert", "jd"], kind="stable").reset_index(drop=True))
        grouped = detections.groupby("alert", sort=True)
        peaks = detections.loc[grouped["mag"].idxmin()].set_index("alert")
        first = grouped["jd"].min()
        alerts = first.index.to_numpy()
        alert_jd = jd[alerts]
        out.loc[alerts, "age"] = alert_jd - first.to_numpy()
        out.loc[alerts, "peakmag_so_far"] = peaks["mag"].to_numpy()
        out.loc[alerts, "maxmag_so_far"] = grouped["mag"].max().to_numpy()
        out.loc[alerts, "days_since_peak"] = alert_jd - peaks["jd"].to_numpy()
        out.loc[alerts, "days_to_peak"] = peaks["jd"].to_numpy() - first.to_numpy()
    candidates = batch.candidates
    out["nnotdet"] = _column(candidates, "ncovhist", np.nan) - _column(candidates, "ndethist",
                                                                         np.nan)
    return out


def flags(batch: AlertBatch) -> dict[str, np.ndarray]:
    """``rock``, ``star``, ``near_brightstar`` per alert (BOOM's thresholds)."""
    c = batch.candidates
    inf = np.inf
    ssdistnr, ssmagnr = _column(c, "ssdistnr", inf), _column(c, "ssmagnr", inf)
    rock = (ssdistnr >= 0) & (ssdistnr < 12) & (ssmagnr >= 0) & np.isfinite(ssmagnr)
    if "ssObjectId" in batch.alerts.columns:
        rock |= batch.alerts["ssObjectId"].notna().to_numpy()
    sg1, sg2, sg3 = (_column(c, f"sgscore{i}", 0.0) for i in (1, 2, 3))
    d1, d2, d3 = (_column(c, f"distpsnr{i}", inf) for i in (1, 2, 3))
    sr1, sr2, sr3 = (_column(c, f"srmag{i}", inf) for i in (1, 2, 3))
    sg_mag1, si1, sz1 = (_column(c, name, inf) for name in ("sgmag1", "simag1", "szmag1"))
    with np.errstate(invalid="ignore"):  # inf - inf (both absent) is NaN: not a colour
        star = ((sg1 > 0.76) & (d1 >= 0) & (d1 <= 2)) | (
            (sg1 > 0.2) & (d1 >= 0) & (d1 <= 1) & (sr1 > 0)
            & (((sz1 > 0) & (sr1 - sz1 > 3)) | ((si1 > 0) & (sr1 - si1 > 3))))
    gaia_dist = _column(c, "neargaiabright", inf)
    gaia_mag = _column(c, "maggaiabright", inf)
    near = (gaia_dist >= 0) & (gaia_dist <= 20) & (gaia_mag > 0) & (gaia_mag <= 12)
    for sg, d, sr in ((sg1, d1, sr1), (sg2, d2, sr2), (sg3, d3, sr3)):
        near |= (sg > 0.49) & (d <= 20) & (sr > 0) & (sr <= 15)
    near |= (sg1 == 0.5) & (d1 < 0.5) & ((sg_mag1 < 17) | (sr1 < 17) | (si1 < 17))
    return {"rock": rock, "star": star, "near_brightstar": near}


def properties(batch: AlertBatch) -> list[dict[str, Any]]:
    """The ``properties`` document of every alert."""
    stats, stationary = photstats(batch)
    flag = flags(batch)
    return [
        {"star": bool(star), "near_brightstar": bool(near), "stationary": bool(still),
         "rock": bool(rock), "photstats": stat}
        for star, near, still, rock, stat in zip(
            flag["star"], flag["near_brightstar"], stationary, flag["rock"], stats,
            strict=True)
    ]


def features_stage(batch: AlertBatch) -> AlertBatch:
    """Add ``properties`` and the private light-curve feature columns."""
    if not len(batch):
        return batch
    lc = lightcurve_features(batch)
    index = batch.alerts.index
    for name in LIGHTCURVE_FEATURES:
        batch = batch.with_enrichment(PREFIX + name,
                                      pd.Series(lc[name].to_numpy(), index=index))
    return batch.with_enrichment("properties",
                                 pd.Series(properties(batch), index=index, dtype=object))


class FeaturesStage(Stage):
    """``features_stage`` as a pipeline stage (no settings, nothing per worker)."""

    name: ClassVar[str] = "features"

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        return features_stage(batch)
