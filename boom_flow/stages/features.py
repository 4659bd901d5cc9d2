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
  ``ssObjectId``), ``star`` and ``near_brightstar`` (ZTF: the packet's PS1 / Gaia
  neighbours; LSST: a point-source catalog match, ``point_sources.py``), and
  ``stationary`` and ``photstats`` from ``photstats.py``. A catalogue field absent from
  the packet counts as "no neighbour", as in BOOM.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Self

import numpy as np
import pandas as pd

from boom_flow.core import AlertBatch
from boom_flow.core.history import points_until_alert
from boom_flow.crossmatch.footprint import Footprint
from boom_flow.stages import Resources, Stage, check_params
from boom_flow.stages.photstats import photstats
from boom_flow.stages.point_sources import DEFAULT_CATALOG, catalog_flags

#: Surveys whose packets name no neighbours: a point-source catalog decides
#: ``star`` and ``near_brightstar`` (``point_sources``).
CATALOG_FLAG_SURVEYS = frozenset({"LSST"})

if TYPE_CHECKING:
    from boom_flow.config import Settings

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
    joined = points_until_alert(batch, "prv_candidates", ("magpsf",))
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


def properties(batch: AlertBatch, point_sources: PointSources | None = None
               ) -> list[dict[str, Any]]:
    """The ``properties`` document of every alert; ``star`` and ``near_brightstar`` from
    a point-source catalog for surveys whose packets carry no neighbours (LSST:
    ``point_sources``, the default one when not given), else from the candidate."""
    stats, stationary = photstats(batch)
    flag = flags(batch)
    if batch.survey.upper() in CATALOG_FLAG_SURVEYS:
        flag.update(catalog_flags(batch, *(point_sources or PointSources())))
    return [
        {"star": _flag(star), "near_brightstar": _flag(near), "stationary": bool(still),
         "rock": bool(rock), "photstats": stat}
        for star, near, still, rock, stat in zip(
            flag["star"], flag["near_brightstar"], stationary, flag["rock"], stats,
            strict=True)
    ]


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


class PointSources(NamedTuple):
    """Where LSST's ``star`` and ``near_brightstar`` come from (``point_sources``)."""

    catalog: str = DEFAULT_CATALOG
    footprint: Footprint | None = None


def features_stage(batch: AlertBatch, point_sources: PointSources | None = None
                   ) -> AlertBatch:
    """Add ``properties`` and the private light-curve feature columns."""
    if not len(batch):
        return batch
    lc = lightcurve_features(batch)
    index = batch.alerts.index
    for name in LIGHTCURVE_FEATURES:
        batch = batch.with_enrichment(PREFIX + name,
                                      pd.Series(lc[name].to_numpy(), index=index))
    values = properties(batch, point_sources)
    return batch.with_enrichment("properties", pd.Series(values, index=index, dtype=object))


@dataclass
class FeaturesStage(Stage):
    """``features_stage`` as a pipeline stage. Settings (LSST): ``point_source_catalog``
    (the crossmatch catalog deciding ``star``/``near_brightstar``, default LSPSC) and
    ``footprint_moc`` (a MOC FITS file of that catalog's footprint, read once per
    worker)."""

    name: ClassVar[str] = "features"

    point_source_catalog: str = DEFAULT_CATALOG
    footprint_moc: str | None = None
    _point_sources: PointSources | None = None

    @classmethod
    def configure(cls, settings: Settings, survey: str, params: Mapping[str, Any]) -> Self:
        check_params(cls.name, params, ("point_source_catalog", "footprint_moc"))
        moc = params.get("footprint_moc")
        if moc:
            moc = str(Path(str(moc)).expanduser())
            Footprint.read(moc)  # a bad file stops the run here, not on a worker
        return cls(str(params.get("point_source_catalog") or DEFAULT_CATALOG), moc or None)

    def setup(self, resources: Resources) -> None:
        footprint = Footprint.read(self.footprint_moc) if self.footprint_moc else None
        self._point_sources = PointSources(self.point_source_catalog, footprint)

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        return features_stage(batch, self._point_sources)
