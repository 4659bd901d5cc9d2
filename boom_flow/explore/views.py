"""What the notebook API returns: small objects with a rich HTML repr and ``.plot()``.

Each holds plain data (documents as the archive stores them) and draws with
``boom_flow.plotting``; the HTML repr embeds the same picture as a PNG, so a notebook
cell shows the object at a glance without a second call.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from boom_flow.plotting import figure_png, light_curve_points, plot_cutouts, plot_light_curve

MJD_OFFSET = 2400000.5


def table_html(rows: Mapping[str, Any], caption: str | None = None) -> str:
    """A two-column HTML table of ``rows`` (values escaped)."""
    cells = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                    f"<td style='text-align:left'>{html.escape(_short(v))}</td></tr>"
                    for k, v in rows.items())
    title = f"<caption style='text-align:left'><b>{html.escape(caption)}</b></caption>" \
        if caption else ""
    return f"<table>{title}{cells}</table>"


def figure_html(figure: Figure, width: int = 640) -> str:
    encoded = base64.b64encode(figure_png(figure, dpi=80)).decode("ascii")
    return f"<img width='{width}' src='data:image/png;base64,{encoded}'/>"


def _short(value: Any, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass
class Cutouts:
    """An alert's three stamps (stored bytes)."""

    candid: int
    stamps: Mapping[str, Any]
    survey: str = "ZTF"

    def plot(self) -> Figure:
        """Science, reference and difference, zscaled."""
        return plot_cutouts(self.stamps, title=f"{self.survey} alert {self.candid}")

    def _repr_html_(self) -> str:
        return figure_html(self.plot())


@dataclass
class Alert:
    """One alert document (``{S}_alerts``) and, when stored, its cutouts."""

    document: dict[str, Any]
    cutouts: Cutouts | None = None
    survey: str = "ZTF"

    @property
    def candid(self) -> int:
        return int(self.document["_id"])

    @property
    def candidate(self) -> dict[str, Any]:
        return self.document.get("candidate") or {}

    def plot(self) -> Figure:
        """The alert's cutouts (an alert without stamps has nothing to draw)."""
        if self.cutouts is None:
            raise ValueError(f"alert {self.candid} has no cutouts stored")
        return self.cutouts.plot()

    def _repr_html_(self) -> str:
        c = self.candidate
        rows = {"objectId": self.document.get("objectId"), "jd": c.get("jd"),
                "band": c.get("band"), "magpsf": c.get("magpsf"), "ra": c.get("ra"),
                "dec": c.get("dec"), "classifications": self.document.get("classifications")}
        picture = figure_html(self.plot()) if self.cutouts is not None else ""
        return table_html(rows, f"{self.survey} alert {self.candid}") + picture


@dataclass
class ObjectView:
    """An object as the API's object route gives it: alerts, light curve, cross-matches,
    aliases and latest classifications (``boom_flow.api.objects.object_view``)."""

    data: dict[str, Any]
    survey: str = "ZTF"
    cutouts: Cutouts | None = None

    @property
    def object_id(self) -> Any:
        return self.data["objectId"]

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return self.data.get("alerts", [])

    @property
    def cross_matches(self) -> dict[str, Any]:
        return self.data.get("cross_matches") or {}

    @property
    def aliases(self) -> dict[str, Any]:
        return self.data.get("aliases") or {}

    @property
    def classifications(self) -> dict[str, float]:
        return self.data.get("classifications") or {}

    @property
    def light_curve(self) -> pd.DataFrame:
        """Every point: detections, limits and forced photometry (one row each)."""
        return light_curve_points(self.data)

    def plot(self) -> Figure:
        """The light curve: detections, limits, forced photometry, per band."""
        return plot_light_curve(self.data, title=f"{self.survey} {self.object_id}")

    def _repr_html_(self) -> str:
        points = self.light_curve
        rows = {
            "alerts": len(self.alerts),
            "detections": int((points["kind"] == "detection").sum()),
            "limits": int((points["kind"] == "limit").sum()),
            "forced photometry": int((points["kind"] == "forced").sum()),
            "bands": ", ".join(sorted(points["band"].unique())),
            "cross-matches": {name: len(rows) for name, rows in self.cross_matches.items()},
            "aliases": self.aliases, "classifications": self.classifications,
        }
        return (table_html(rows, f"{self.survey} object {self.object_id}")
                + figure_html(self.plot()))


@dataclass
class Cone:
    """The documents within a radius of a position, nearest first (``distance_arcsec``)."""

    ra: float
    dec: float
    radius_arcsec: float
    catalog: str
    documents: list[dict[str, Any]]

    def table(self) -> pd.DataFrame:
        """One row per match: ``_id``, ``objectId``, distance, ra/dec when stored."""
        rows = []
        for doc in self.documents:
            lon, lat = ((doc.get("coordinates") or {}).get("radec_geojson") or {}).get(
                "coordinates", (None, None))
            # An aux document's _id is the object id.
            object_id = doc.get("objectId", doc.get("_id") if self.catalog.endswith("_aux")
                                else None)
            rows.append({"_id": doc.get("_id"), "objectId": object_id,
                         "distance_arcsec": doc.get("distance_arcsec"),
                         "ra": None if lon is None else lon + 180.0, "dec": lat})
        return pd.DataFrame(rows, columns=["_id", "objectId", "distance_arcsec", "ra", "dec"])

    def plot(self) -> Figure:
        """The matches' offsets from the centre (arcsec), with the search circle."""
        import numpy as np

        figure = Figure(figsize=(4.5, 4.5), layout="constrained")
        ax = figure.subplots()
        frame = self.table().dropna(subset=["ra", "dec"])
        d_ra = ((frame["ra"] - self.ra + 180) % 360 - 180) * np.cos(np.radians(self.dec)) * 3600
        d_dec = (frame["dec"] - self.dec) * 3600
        ax.scatter(d_ra, d_dec, s=20, label=f"{len(frame)} matches")
        ax.add_patch(_circle(self.radius_arcsec))
        limit = self.radius_arcsec * 1.1
        ax.set(xlim=(limit, -limit), ylim=(-limit, limit), aspect="equal",
               xlabel="ΔRA cos(dec) (arcsec, east left)", ylabel="ΔDec (arcsec)",
               title=f"{self.catalog} within {self.radius_arcsec:g}\"")
        ax.legend(fontsize="small")
        return figure

    def _repr_html_(self) -> str:
        caption = (f"{len(self.documents)} of {self.catalog} within {self.radius_arcsec:g}\" "
                   f"of ({self.ra:.5f}, {self.dec:+.5f})")
        return f"<b>{html.escape(caption)}</b>" + self.table().head(20).to_html(index=False)


def _circle(radius: float) -> Any:
    from matplotlib.patches import Circle

    return Circle((0, 0), radius, fill=False, linestyle="--", color="grey")


@dataclass
class Backtest:
    """A filter run over the stored archive, as the live stream would have run it."""

    pipeline: list[dict[str, Any]]
    start_jd: float
    end_jd: float
    alerts: int
    #: ``(stage, alerts remaining after it)`` for each stage of the pipeline.
    remaining: list[tuple[str, int]]
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return len(self.outputs)

    def table(self) -> pd.DataFrame:
        """The outputs, one row per passing alert (the filter's ``$project``)."""
        return pd.json_normalize(self.outputs) if self.outputs else pd.DataFrame()

    def plot(self) -> Figure:
        """Alerts remaining after each stage (where a filter loses its alerts)."""
        figure = Figure(figsize=(6, 0.6 + 0.45 * (len(self.remaining) + 1)),
                        layout="constrained")
        ax = figure.subplots()
        labels = ["archive", *[f"{i}: {name}" for i, (name, _) in enumerate(self.remaining)]]
        counts = [self.alerts, *[count for _, count in self.remaining]]
        bars = ax.barh(labels, counts, color="#1f77b4")
        ax.bar_label(bars, padding=3)
        ax.invert_yaxis()
        ax.set_xlabel("alerts remaining")
        ax.set_title("Backtest: alerts after each stage")
        return figure

    def _repr_html_(self) -> str:
        rows = {"window (JD)": f"{self.start_jd:.5f} .. {self.end_jd:.5f}",
                "alerts in the window": self.alerts, "passed": self.passed,
                **{f"after stage {i} ({name})": count
                   for i, (name, count) in enumerate(self.remaining)}}
        return table_html(rows, "filter backtest") + figure_html(self.plot(), 480)


def stage_shares(seconds: Mapping[str, float]) -> pd.Series:
    total = sum(seconds.values()) or 1.0
    return pd.Series({stage: spent / total for stage, spent in seconds.items()})


@dataclass
class NightReplay:
    """What a replayed night did (``bench.demo.DemoReport``, kept whole as ``report``)."""

    report: Any

    @property
    def summary(self) -> Any:
        return self.report.summary

    @property
    def dashboard(self) -> str | None:
        """The boom_flow page of the Dask dashboard the night ran on."""
        return self.report.dashboard

    def lines(self) -> Sequence[str]:
        return self.summary.lines()

    def plot(self) -> Figure:
        """Share of the workers' time per stage."""
        shares = stage_shares(self.summary.stage_seconds)
        figure = Figure(figsize=(6, 0.6 + 0.4 * max(len(shares), 1)), layout="constrained")
        ax = figure.subplots()
        ax.barh(list(shares.index), (shares * 100).tolist(), color="#9467bd")
        ax.invert_yaxis()
        ax.set_xlabel("share of worker time (%)")
        ax.set_title(f"{self.summary.alerts} alerts at {self.summary.alerts_per_s:.1f} alerts/s")
        return figure

    def _repr_html_(self) -> str:
        s, r = self.summary, self.report
        rows = {"alerts": f"{r.alerts} of {r.objects} objects", "stored": s.stored,
                "already in the archive": s.duplicates, "rejected": s.rejected,
                "rate": f"{s.alerts_per_s:.1f} alerts/s over {s.elapsed_s:.1f} s",
                "stages": " -> ".join(["decode", *r.stages, "write"]),
                "filter passes": r.filter_passes, "dashboard": r.dashboard or "-"}
        return table_html(rows, "replayed night") + figure_html(self.plot(), 480)
