"""Photometric and table conversions shared by the survey decoders, on whole columns.

The decoders convert a batch's candidates and histories column by column (NumPy on
float64 arrays, Arrow compute on strings), never alert by alert. In the NumPy
helpers NaN stands for a missing value; ``set_columns`` writes results back as
Arrow-backed columns where NaN and infinities become nulls (a magnitude of a zero
flux is not a number a filter should compare against).

Formulas follow BOOM (``src/utils/lightcurves.rs``): ``flux2mag``, ``mag2flux``,
``fluxerr2diffmaglim`` and ``diffmaglim2fluxerr``, with ``2.5 / ln 10`` as the
magnitude-error factor and a signal-to-noise threshold of 3 for forced photometry.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: d(mag) = FACTOR * d(flux) / flux.
FACTOR = 2.5 / np.log(10.0)
#: AB magnitude of a flux of 1 µJy: ZTF magnitudes become µJy with this zero point.
ZTF_ZP = 23.9
#: AB magnitude of a flux of 1 nJy: 8.9 (1 Jy) + 2.5 log10(1e9) = 31.4.
LSST_ZP_NJY = 31.4
#: Scale of the ZTF fluxes the archive stores: magnitudes at ZP 23.9 (µJy) times 1e9, as
#: data-model.md gives for ``fp_hists`` and as BOOM writes every ZTF flux, so that filters
#: written against BOOM's documents keep their thresholds. BOOM calls these "nJy"; a µJy
#: value times 1e3 would be the physical nJy, so they are 1e6 larger than LSST's fluxes.
NJY_PER_UJY = 1e9
#: Forced photometry counts as a detection above this signal-to-noise ratio.
SNT = 3.0
#: Julian date of MJD 0.
MJD_TO_JD = 2400000.5
#: Sentinel ZTF writes for a forced flux it could not measure.
ZTF_MISSING_FLUX = -99999.0

# TAI - UTC (leap seconds) from each UTC date (as MJD) on: IERS Bulletin C.
_LEAP_MJD_UTC = np.array([
    41317, 41499, 41683, 42048, 42413, 42778, 43144, 43509, 43874, 44239, 44786, 45151,
    45516, 46247, 47161, 47892, 48257, 48804, 49169, 49534, 50083, 50630, 51179, 53736,
    54832, 56109, 57204, 57754,
], dtype=np.float64)
_TAI_MINUS_UTC_S = np.arange(10, 10 + len(_LEAP_MJD_UTC), dtype=np.float64)
# The same instants on the TAI time scale, where ``midpointMjdTai`` lives.
_LEAP_MJD_TAI = _LEAP_MJD_UTC + _TAI_MINUS_UTC_S / 86400.0


def mag_to_flux(mag: np.ndarray, sigma: np.ndarray, zp: float) -> tuple[np.ndarray, np.ndarray]:
    """Flux (in the unit ``zp`` refers to) and its error from a magnitude and its error."""
    with np.errstate(over="ignore", invalid="ignore"):
        flux = 10.0 ** (-0.4 * (mag - zp))
        return flux, sigma / FACTOR * flux


def flux_to_mag(flux: np.ndarray, error: np.ndarray, zp: float) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude and its error of the absolute flux (a negative difference flux is a
    source fainter in the science than in the template image; its size is what counts)."""
    absolute = np.abs(flux)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -2.5 * np.log10(absolute) + zp, FACTOR * error / absolute


def flux_error_to_limit(error: np.ndarray, zp: float) -> np.ndarray:
    """The 5-sigma limiting magnitude of a flux error."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -2.5 * np.log10(5.0 * error) + zp


def limit_to_flux_error(limit: np.ndarray, zp: float) -> np.ndarray:
    """The flux error whose 5-sigma limit is ``limit`` (inverse of the above)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return 10.0 ** (-0.4 * (limit - zp)) / 5.0


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise ratio; a zero denominator gives a non-finite value (a null later)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / denominator


def mjd_tai_to_jd_utc(mjd_tai: np.ndarray) -> np.ndarray:
    """Julian date in UTC (ZTF's ``jd`` scale) of an MJD on the TAI scale (Rubin's
    ``midpointMjdTai``): TAI runs ahead of UTC by the leap seconds, 37 s since 2017."""
    index = np.searchsorted(_LEAP_MJD_TAI, mjd_tai, side="right") - 1
    offset_s = np.where(index >= 0, _TAI_MINUS_UTC_S[np.clip(index, 0, None)], 0.0)
    return mjd_tai + MJD_TO_JD - offset_s / 86400.0


def floats(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as float64 with NaN for nulls, all NaN when the column is absent."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)


def arrow(frame: pd.DataFrame, name: str) -> pa.Array:
    """A column as an Arrow array, all nulls when the column is absent."""
    if name not in frame.columns:
        return pa.nulls(len(frame))
    return pa.array(frame[name].array)


def truthy_strings(values: pa.Array, true_values: tuple[str, ...]) -> pa.Array:
    """Booleans from flags written as text (``"t"``, ``"1"``, ``"true"``, any case);
    nulls stay null, booleans stay as they are, numbers are true when 1."""
    if pa.types.is_boolean(values.type):
        return values
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return pc.equal(values, 1)
    text = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
    return pc.if_else(pc.is_null(text), pa.scalar(None, pa.bool_()),
                      pc.is_in(text, value_set=pa.array(true_values)))


def null_if_in(values: pa.Array, placeholders: tuple[str, ...]) -> pa.Array:
    """Text with placeholder values (``""``, ``"null"``, any case) made null."""
    text = values.cast(pa.string())
    placeholder = pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(text)),
                           value_set=pa.array(placeholders))
    return pc.if_else(placeholder, pa.scalar(None, pa.string()), text)


def null_if_zero(values: pa.Array) -> pa.Array:
    """Ids where 0 means "none" (Rubin 7.x writes ``ssObjectId = 0``) made null."""
    if not pa.types.is_integer(values.type):
        return values
    return pc.if_else(pc.equal(values, 0), pa.scalar(None, values.type), values)


def lookup(codes: np.ndarray, mapping: Mapping[int, str]) -> pa.Array:
    """Labels for integer codes (e.g. ZTF ``fid`` -> band); null for unknown codes."""
    labels = np.full(len(codes), None, dtype=object)
    for code, label in mapping.items():
        labels[codes == code] = label
    return pa.array(labels, type=pa.string())


def set_columns(frame: pd.DataFrame, columns: Mapping[str, np.ndarray | pa.Array]) -> None:
    """Add or replace columns of ``frame`` (a table the decoder owns) as Arrow-backed
    columns; float arrays have NaN and infinities written as nulls."""
    for name, values in columns.items():
        if isinstance(values, np.ndarray):
            if values.dtype.kind == "f":
                array = pa.array(values, mask=~np.isfinite(values))
            else:
                array = pa.array(values)
        else:
            array = values
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        frame[name] = pd.Series(pd.arrays.ArrowExtensionArray(array), index=frame.index)


def masked(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``values`` where ``keep``, NaN elsewhere."""
    return np.where(keep, values, np.nan)


def booleans(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A nullable boolean Arrow array: ``values`` where ``valid``, null elsewhere."""
    return pa.array(values.astype(bool), mask=~valid)


def integers(values: np.ndarray) -> pa.Array:
    """A nullable int64 Arrow array from floats (NaN -> null)."""
    valid = np.isfinite(values)
    return pa.array(np.where(valid, values, 0).astype(np.int64), mask=~valid)


def fill_types(frame: pd.DataFrame, types: Mapping[str, pa.DataType]) -> None:
    """Give all-null columns (Arrow type ``null``) their intended type, so that a
    batch without, say, any Kafka timestamp still has an ``int64`` ``timestamp_ms``."""
    for name, wanted in types.items():
        if name in frame.columns and pa.types.is_null(arrow(frame, name).type):
            set_columns(frame, {name: pa.nulls(len(frame), type=wanted)})
