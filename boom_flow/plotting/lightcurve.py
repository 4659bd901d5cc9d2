"""An object's light curve: detections, non-detection limits and forced photometry, per band.

Two panels sharing the time axis (MJD):

- magnitudes: detections with their errors, and each non-detection as a downward
  triangle at its limiting magnitude (``diffmaglim``: the object was fainter than
  that, so the marker points toward fainter, down on the inverted axis);
- forced photometry: the difference flux (nJy, can be negative) with errors.

Each band has its own colour and its own artists (labels ``"<band> detections"``,
``"<band> limits"``, ``"<band> forced"``), so bands never merge into one series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

MJD_OFFSET = 2400000.5
BAND_COLOURS = {"u": "#6a3d9a", "g": "#2ca02c", "r": "#d62728", "i": "#ff7f0e",
                "z": "#8c564b", "y": "#7f7f7f"}
LIMIT_MARKER = "v"
_KINDS = {"prv_candidates": "detection", "prv_nondetections": "limit", "fp_hists": "forced"}


def light_curve_points(view: Mapping[str, Any]) -> pd.DataFrame:
    """One row per point of an object's history (``prv_candidates``,
    ``prv_nondetections``, ``fp_hists``, as the archive's aux document or the API's
    object view hold them): ``kind``, ``band``, ``mjd``, ``mag``, ``mag_err``, ``limit``,
    ``flux``, ``flux_err``. Detections without a magnitude are left out."""
    rows = []
    for field, kind in _KINDS.items():
        for point in view.get(field) or ():
            jd = point.get("jd")
            if jd is None:
                continue
            rows.append({
                "kind": kind, "band": point.get("band") or "?", "mjd": float(jd) - MJD_OFFSET,
                "mag": _float(point.get("magpsf")), "mag_err": _float(point.get("sigmapsf")),
                "limit": _float(point.get("diffmaglim")),
                "flux": _float(point.get("psfFlux")), "flux_err": _float(point.get("psfFluxErr")),
            })
    columns = ["kind", "band", "mjd", "mag", "mag_err", "limit", "flux", "flux_err"]
    frame = pd.DataFrame(rows, columns=columns)
    detections = frame["kind"] == "detection"
    return frame[~detections | frame["mag"].notna()].reset_index(drop=True)


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return np.nan
    return number if np.isfinite(number) else np.nan


def _bands(bands: Iterable[str]) -> list[str]:
    order = list(BAND_COLOURS)
    return sorted(set(bands), key=lambda b: (order.index(b) if b in order else len(order), b))


def plot_light_curve(view: Mapping[str, Any], title: str | None = None,
                     figure: Figure | None = None) -> Figure:
    """The light curve of ``view`` (see ``light_curve_points``); the forced-photometry
    panel is drawn only when the object has forced photometry."""
    points = light_curve_points(view)
    forced = points[points["kind"] == "forced"]
    figure = figure or Figure(figsize=(8, 6 if len(forced) else 4), layout="constrained")
    if len(forced):
        mags, fluxes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    else:
        mags, fluxes = figure.subplots(1, 1), None
    for band in _bands(points["band"]):
        colour = BAND_COLOURS.get(band, "black")
        of_band = points[points["band"] == band]
        found = of_band[of_band["kind"] == "detection"]
        if len(found):
            mags.errorbar(found["mjd"], found["mag"], yerr=found["mag_err"].fillna(0), fmt="o",
                          color=colour, markersize=5, capsize=2, label=f"{band} detections")
        limits = of_band[(of_band["kind"] == "limit") & of_band["limit"].notna()]
        if len(limits):
            mags.plot(limits["mjd"], limits["limit"], LIMIT_MARKER, color=colour,
                      markerfacecolor="none", alpha=0.7, label=f"{band} limits")
        measured = of_band[of_band["kind"] == "forced"]
        if fluxes is not None and len(measured):
            fluxes.errorbar(measured["mjd"], measured["flux"],
                            yerr=measured["flux_err"].fillna(0), fmt="s", color=colour,
                            markersize=3, capsize=1, alpha=0.8, label=f"{band} forced")
    mags.invert_yaxis()  # brighter is up
    mags.set_ylabel("magnitude (AB)")
    if len(points):
        mags.legend(fontsize="small", ncols=2)
    else:
        mags.text(0.5, 0.5, "no photometry", ha="center", va="center",
                  transform=mags.transAxes)
    if fluxes is not None:
        fluxes.axhline(0.0, color="grey", linewidth=0.8)
        fluxes.set_ylabel("forced flux (nJy)")
        fluxes.set_xlabel("MJD")
        fluxes.legend(fontsize="small", ncols=2)
    else:
        mags.set_xlabel("MJD")
    if title:
        mags.set_title(title)
    return figure
