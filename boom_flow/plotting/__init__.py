"""Pictures of the archive: light curves and cutouts, drawn with matplotlib.

Figures are made with ``matplotlib.figure.Figure`` (never pyplot), so the API's worker
threads can draw them concurrently, and Jupyter shows them as any other figure.
``figure_png`` turns one into PNG bytes (the API's ``format=png``).
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

from boom_flow.plotting.cutouts import CUTOUT_TITLES, cutout_image, plot_cutouts
from boom_flow.plotting.lightcurve import BAND_COLOURS, light_curve_points, plot_light_curve


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


__all__ = ["BAND_COLOURS", "CUTOUT_TITLES", "cutout_image", "figure_png", "light_curve_points",
           "plot_cutouts", "plot_light_curve"]
