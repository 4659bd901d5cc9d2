"""An alert's three stamps side by side: science, reference (template), difference.

Each stamp is scaled on its own with astropy's ``ZScaleInterval`` (IRAF's zscale, what
astronomers expect of a stamp: faint structure visible, a bright core not flattening
the rest). Stamps arrive as stored: ZTF gzipped FITS, LSST plain FITS, raw bytes or
base64 text (the API's JSON).
"""

from __future__ import annotations

import base64
import gzip
import io
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

#: Stored field -> panel title, in display order.
CUTOUT_TITLES = {"cutoutScience": "science", "cutoutTemplate": "reference",
                 "cutoutDifference": "difference"}


class CutoutError(ValueError):
    """A stamp that is not a readable FITS image."""


def _as_bytes(stamp: Any) -> bytes:
    if isinstance(stamp, str):
        return base64.b64decode(stamp)
    return bytes(stamp)


def cutout_image(stamp: Any) -> np.ndarray:
    """The stamp's pixels as a float array (non-finite pixels become NaN)."""
    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning

    data = _as_bytes(stamp)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        # ZTF's stamps have a SIMPLE card astropy finds non-standard; they read fine.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)
            hdus = fits.open(io.BytesIO(data), memmap=False)
        with hdus:
            image = next((hdu.data for hdu in hdus if getattr(hdu, "data", None) is not None
                          and hdu.data.ndim == 2), None)
            if image is None:
                raise CutoutError("the FITS file holds no 2-D image")
            pixels = np.array(image, dtype=float)
    except (OSError, ValueError) as error:
        if isinstance(error, CutoutError):
            raise
        raise CutoutError(f"not a FITS stamp: {error}") from None
    pixels[~np.isfinite(pixels)] = np.nan
    return pixels


def _zscaled(image: np.ndarray) -> tuple[float, float]:
    from astropy.visualization import ZScaleInterval

    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = ZScaleInterval().get_limits(finite)
    return (float(low), float(high)) if high > low else (float(low), float(low) + 1.0)


def plot_cutouts(stamps: Mapping[str, Any], title: str | None = None,
                 figure: Figure | None = None) -> Figure:
    """Science, reference and difference of one alert, each zscaled, north up as stored.

    ``stamps`` maps ``cutoutScience``/``cutoutTemplate``/``cutoutDifference`` to the
    stamp (bytes or base64); a missing stamp leaves its panel empty with a note.
    """
    figure = figure or Figure(figsize=(9, 3.4), layout="constrained")
    axes = figure.subplots(1, 3)
    for ax, (field, name) in zip(axes, CUTOUT_TITLES.items(), strict=True):
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
        stamp = stamps.get(field)
        if stamp is None:
            ax.text(0.5, 0.5, "no stamp", ha="center", va="center", transform=ax.transAxes)
            continue
        image = cutout_image(stamp)
        low, high = _zscaled(image)
        ax.imshow(image, origin="lower", cmap="gray", vmin=low, vmax=high,
                  interpolation="nearest")
        ax.set_xlabel(f"{image.shape[1]}x{image.shape[0]} px, zscale")
    if title:
        figure.suptitle(title)
    return figure
