"""Light curves and cutouts drawn from simulated and real ZTF alerts: a figure per call,
axes labelled, one series per band, non-detections drawn as limits, stamps zscaled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from astropy.visualization import ZScaleInterval
from matplotlib.figure import Figure

from boom_flow.core import AlertBatch, RawPacket
from boom_flow.core.batch import records_from_table
from boom_flow.plotting import (
    BAND_COLOURS,
    cutout_image,
    figure_png,
    light_curve_points,
    plot_cutouts,
    plot_light_curve,
)
from boom_flow.plotting.lightcurve import LIMIT_MARKER, MJD_OFFSET
from boom_flow.simulate import NightSpec, simulate_night
from boom_flow.surveys import build_survey

HISTORIES = ("prv_candidates", "prv_nondetections", "fp_hists")


def _views(batch: AlertBatch) -> dict[Any, dict[str, Any]]:
    """Per object, its history points as the archive's aux document holds them (the
    packets repeat them: one per jd, as the archive keeps them)."""
    views: dict[Any, dict[str, Any]] = {}
    for field in HISTORIES:
        for point in records_from_table(getattr(batch, field)):
            view = views.setdefault(point["objectId"], {f: {} for f in HISTORIES})
            view[field][point["jd"]] = point
    return {oid: {f: list(points.values()) for f, points in view.items()}
            for oid, view in views.items()}


def _richest(batch: AlertBatch) -> dict[str, Any]:
    """The object with detections, limits and forced photometry in most bands."""
    def score(view: dict[str, Any]) -> tuple[int, ...]:
        points = light_curve_points(view)
        kinds = set(points["kind"])
        return (len(kinds), points["band"].nunique(), len(points))
    return max(_views(batch).values(), key=score)


@pytest.fixture(scope="module")
def simulated() -> AlertBatch:
    alerts = list(simulate_night(NightSpec(n_alerts=60, seed=3, prior_nights=6)))
    return build_survey("ztf").decode([RawPacket(a.packet, "sim") for a in alerts])


@pytest.fixture(scope="module")
def real(shared_data: Path) -> AlertBatch:
    paths = sorted((shared_data / "ztf" / "alerts").rglob("*.avro"))
    return build_survey("ztf").decode([RawPacket(p.read_bytes(), str(p)) for p in paths])


def _check_light_curve(view: dict[str, Any]) -> None:
    figure = plot_light_curve(view, title="test object")
    assert isinstance(figure, Figure)
    points = light_curve_points(view)
    mags = figure.axes[0]
    assert mags.get_ylabel() == "magnitude (AB)" and mags.yaxis_inverted()
    assert figure.axes[-1].get_xlabel() == "MJD"
    lines = {line.get_label(): line for ax in figure.axes for line in ax.get_lines()}
    containers = {c.get_label(): c for ax in figure.axes for c in ax.containers}
    for band in points["band"].unique():
        of_band = points[points["band"] == band]
        found = of_band[of_band["kind"] == "detection"]
        if len(found):  # one series per band, holding exactly that band's detections
            series = containers[f"{band} detections"].lines[0]
            assert np.allclose(sorted(series.get_xdata()), sorted(found["mjd"]))
            assert series.get_color() == BAND_COLOURS[band]
        limits = of_band[(of_band["kind"] == "limit") & of_band["limit"].notna()]
        if len(limits):  # drawn as limits: downward markers at the limiting magnitude
            marks = lines[f"{band} limits"]
            assert marks.get_marker() == LIMIT_MARKER and marks.get_linestyle() == "None"
            assert np.allclose(sorted(marks.get_ydata()), sorted(limits["limit"]))
            expected = {p["jd"] - MJD_OFFSET for p in view["prv_nondetections"]
                        if p.get("band") == band and p.get("diffmaglim") is not None}
            assert np.allclose(sorted(marks.get_xdata()), sorted(expected))
        forced = of_band[of_band["kind"] == "forced"]
        if len(forced):
            assert figure.axes[1].get_ylabel() == "forced flux (nJy)"
            assert np.allclose(sorted(containers[f"{band} forced"].lines[0].get_ydata()),
                               sorted(forced["flux"]))
    assert figure_png(figure).startswith(b"\x89PNG")


def test_simulated_light_curve_has_every_kind_of_point(simulated: AlertBatch) -> None:
    view = _richest(simulated)
    points = light_curve_points(view)
    assert set(points["kind"]) == {"detection", "limit", "forced"}
    assert points["band"].nunique() >= 2
    _check_light_curve(view)


@pytest.mark.shared_data
def test_real_light_curves(real: AlertBatch) -> None:
    views = _views(real)
    assert views
    for view in list(views.values())[:4]:
        _check_light_curve(view)
    richest = _richest(real)
    assert {"detection", "limit"} <= set(light_curve_points(richest)["kind"])


def test_an_object_without_photometry_still_gets_a_labelled_figure() -> None:
    figure = plot_light_curve({"prv_candidates": [], "prv_nondetections": []})
    assert len(figure.axes) == 1 and figure.axes[0].get_xlabel() == "MJD"


def _check_cutouts(stamps: dict[str, Any]) -> None:
    figure = plot_cutouts(stamps, title="alert")
    assert [ax.get_title() for ax in figure.axes] == ["science", "reference", "difference"]
    for ax, field in zip(figure.axes, ("cutoutScience", "cutoutTemplate", "cutoutDifference"),
                         strict=True):
        (image,) = ax.get_images()
        pixels = cutout_image(stamps[field])
        low, high = ZScaleInterval().get_limits(pixels[np.isfinite(pixels)])
        assert image.get_clim() == pytest.approx((low, high))
        assert image.get_array().shape == pixels.shape
        assert "zscale" in ax.get_xlabel()


def test_simulated_cutouts_are_zscaled(simulated: AlertBatch) -> None:
    row = simulated.cutouts.iloc[0]
    _check_cutouts({name: row[name] for name in ("cutoutScience", "cutoutTemplate",
                                                  "cutoutDifference")})


@pytest.mark.shared_data
def test_real_cutouts_are_zscaled(real: AlertBatch) -> None:
    for row in pd.DataFrame(real.cutouts).head(3).itertuples(index=False):
        _check_cutouts(row._asdict())


def test_a_missing_stamp_leaves_its_panel_empty(simulated: AlertBatch) -> None:
    row = simulated.cutouts.iloc[0]
    figure = plot_cutouts({"cutoutScience": row["cutoutScience"]})
    assert len(figure.axes[0].get_images()) == 1
    assert not figure.axes[1].get_images() and not figure.axes[2].get_images()
    assert figure.axes[2].texts[0].get_text() == "no stamp"
