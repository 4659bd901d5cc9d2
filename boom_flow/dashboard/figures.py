"""The page's Bokeh figures, each drawing one named ``ColumnDataSource``.

The page's script replaces every source's data from one JSON snapshot per tick (see
``page``). Bar charts take their categories (stages, partitions, filters, workers) from
the data as it arrives: a small ``CustomJS`` copies the names into the axis' factors.
"""

from __future__ import annotations

from typing import Any

from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, CustomJS, FactorRange, HoverTool
from bokeh.plotting import figure

WIDTH, HEIGHT = 560, 260
COLOURS = {"in": "#1f77b4", "stored": "#2ca02c", "rejected": "#d62728",
           "p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728"}


#: Name of the page's data source ``name`` in the Bokeh document.
SOURCE_PREFIX = "boom_flow_"


def _source(name: str, columns: tuple[str, ...]) -> ColumnDataSource:
    return ColumnDataSource(data={c: [] for c in columns}, name=f"{SOURCE_PREFIX}{name}")


def _lines(title: str, source: ColumnDataSource, series: tuple[str, ...], y_label: str,
           markers: bool = False) -> Any:
    fig = figure(title=title, x_axis_type="datetime", width=WIDTH, height=HEIGHT,
                 tools="pan,wheel_zoom,reset,save", toolbar_location="above")
    for name in series:
        fig.line("time", name, source=source, legend_label=name, line_width=2,
                 color=COLOURS[name])
        if markers:  # a single bin is a point, not a line
            fig.scatter("time", name, source=source, color=COLOURS[name], size=5)
    fig.xaxis.axis_label = "time (UTC)"
    fig.yaxis.axis_label = y_label
    fig.legend.location = "top_left"
    fig.add_tools(HoverTool(tooltips=[(name, f"@{name}") for name in series]))
    return fig


def _bars(title: str, source: ColumnDataSource, category: str, value: str, x_label: str,
          colour: str) -> Any:
    """Horizontal bars of ``value`` per ``category``; the categories follow the data."""
    categories = FactorRange(factors=[])
    fig = figure(title=title, y_range=categories, width=WIDTH, height=HEIGHT,
                 tools="save", toolbar_location="above")
    fig.hbar(y=category, right=value, height=0.7, source=source, color=colour)
    fig.xaxis.axis_label = x_label
    fig.x_range.start = 0
    fig.add_tools(HoverTool(tooltips=[(category, f"@{category}"), (value, f"@{value}")]))
    source.js_on_change("data", CustomJS(args={"r": categories, "s": source, "c": category},
                                         code="r.factors = [...s.data[c]].map(String);"))
    return fig


def layout() -> Any:
    """The six panels, two per row."""
    rates = _source("rates", ("time", "in", "stored", "rejected"))
    stages = _source("stages", ("stage", "ms_per_alert", "seconds"))
    latency = _source("latency", ("time", "p50", "p95", "p99"))
    lag = _source("lag", ("partition", "lag"))
    filters = _source("filters", ("filter", "passes"))
    memory = _source("memory", ("worker", "memory_mb", "limit_mb"))
    panels = [
        _lines("Alerts per second: in, stored, rejected", rates,
               ("in", "stored", "rejected"), "alerts/s"),
        _bars("Time per stage (worker ms per alert)", stages, "stage", "ms_per_alert",
              "ms per alert", "#9467bd"),
        _lines("Latency to the filter result (percentiles)", latency, ("p50", "p95", "p99"),
               "ms", markers=True),
        _bars("Kafka lag per partition (messages)", lag, "partition", "lag", "messages",
              "#8c564b"),
        _bars("Passes per filter", filters, "filter", "passes", "alerts passed", "#2ca02c"),
        _bars("Memory per worker (MiB)", memory, "worker", "memory_mb", "MiB", "#17becf"),
    ]
    return gridplot(panels, ncols=2)
