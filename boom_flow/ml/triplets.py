"""Cutout triplets: three gzipped FITS stamps per alert -> one [N, 63, 63, 3] array.

This runs for every ZTF alert that meets an image model, so it avoids a general FITS
library: a ZTF stamp is a primary HDU with 2880-byte header blocks, ``BITPIX = -32``
(big-endian float32) and ``NAXIS1 x NAXIS2`` pixels right after the ``END`` card.
Per stamp the only Python work is one ``zlib`` inflate and a header scan with
``bytes.find``; decoding pixels, NaN replacement and the L2 normalisation run once,
vectorised, over the whole batch.

Preprocessing (ml.md, as BOOM ``utils/fits.rs`` and Kowalski do): NaN -> 0, each
stamp divided by its Frobenius norm, channels science/template/difference (NHWC).
A stamp smaller than 63x63 (CCD edge) is zero-padded, centred the way BOOM centres it
(``ceil((63 - n) / 2)`` pixels before); zeros do not change the norm.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from boom_flow.core.batch import CUTOUTS

SIZE = 63
_BLOCK = 2880
_CARD = 80
_PIXEL_TYPES = {-32: ">f4", -64: ">f8"}


class StampError(ValueError):
    """A stamp that cannot be turned into an image (the message says why)."""


@dataclass(frozen=True)
class Stamp:
    """One decoded stamp: raw big-endian pixel bytes and their layout."""

    pixels: bytes
    width: int
    height: int
    dtype: str


def _header_value(header: bytes, key: bytes) -> bytes:
    # Cards are 80 bytes; a key is left-aligned in the first 8 columns.
    start = 0
    padded = key.ljust(8) + b"="
    while True:
        at = header.find(padded, start)
        if at < 0:
            raise StampError(f"FITS header has no {key.decode()} card")
        if at % _CARD == 0:
            return header[at + 9: at + _CARD].split(b"/", 1)[0].strip()
        start = at + 1


def read_stamp(data: bytes) -> Stamp:
    """Inflate a gzipped (or plain) single-HDU FITS stamp and locate its pixels."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompress(data, wbits=31)
        except zlib.error as error:
            raise StampError(f"stamp is not valid gzip ({error})") from None
    if not data.startswith(b"SIMPLE  ="):
        raise StampError("stamp is not a FITS file (no SIMPLE card)")
    end = 0
    while True:
        # The header ends with the block holding the END card.
        block = data[end: end + _BLOCK]
        if len(block) < _BLOCK:
            raise StampError("FITS header is truncated (no END card)")
        end += _BLOCK
        if any(block[i: i + _CARD].rstrip() == b"END" for i in range(0, _BLOCK, _CARD)):
            break
    header = data[:end]
    try:
        bitpix = int(_header_value(header, b"BITPIX"))
        naxis = int(_header_value(header, b"NAXIS"))
        width = int(_header_value(header, b"NAXIS1"))
        height = int(_header_value(header, b"NAXIS2"))
    except ValueError as error:
        raise StampError(f"FITS header: {error}") from None
    if bitpix not in _PIXEL_TYPES:
        raise StampError(f"unsupported BITPIX {bitpix} (floating-point stamps only)")
    if naxis != 2 or not (0 < width <= SIZE and 0 < height <= SIZE):
        raise StampError(f"stamp is {width}x{height} (NAXIS {naxis}); at most {SIZE}x{SIZE}")
    for scaling in (b"BSCALE", b"BZERO"):
        if header.find(scaling.ljust(8) + b"=") >= 0:
            raise StampError(f"scaled stamps ({scaling.decode()}) are not supported")
    nbytes = width * height * abs(bitpix) // 8
    pixels = data[end: end + nbytes]
    if len(pixels) < nbytes:
        raise StampError(f"FITS data is truncated ({len(pixels)} of {nbytes} bytes)")
    return Stamp(pixels, width, height, _PIXEL_TYPES[bitpix])


def stamp_image(stamp: Stamp) -> np.ndarray:
    """The stamp as a float32 [63, 63] image, zero-padded and centred (not normalised)."""
    image = np.frombuffer(stamp.pixels, dtype=stamp.dtype).reshape(stamp.height, stamp.width)
    if (stamp.height, stamp.width) == (SIZE, SIZE):
        return image.astype(np.float32)
    padded = np.zeros((SIZE, SIZE), dtype=np.float32)
    top, left = -(-(SIZE - stamp.height) // 2), -(-(SIZE - stamp.width) // 2)
    padded[top: top + stamp.height, left: left + stamp.width] = image
    return padded


def prepare_triplets(
    stamps: Sequence[Sequence[bytes | None]],
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Triplets for N alerts, each given as (science, template, difference) bytes.

    Returns ``(triplets [N, 63, 63, 3] float32, ok [N] bool, errors)``: an alert whose
    stamps are missing or unreadable has ``ok`` False, a zero triplet and the reason in
    ``errors`` (the models skip it; nothing else in the batch is affected).
    """
    count = len(stamps)
    ok = np.ones(count, dtype=bool)
    errors: list[str | None] = [None] * count
    # Fast path: full-size float32 stamps are concatenated and decoded in one call.
    full: list[bytes] = []
    odd: dict[tuple[int, int], np.ndarray] = {}
    zero = b"\x00" * (SIZE * SIZE * 4)
    for row, triplet in enumerate(stamps):
        parts: list[bytes] = []
        for channel, data in enumerate(triplet):
            if not ok[row]:
                break
            if data is None:
                ok[row], errors[row] = False, f"{CUTOUTS[channel]} is missing"
                break
            try:
                stamp = read_stamp(data)
            except StampError as error:
                ok[row], errors[row] = False, f"{CUTOUTS[channel]}: {error}"
                break
            if (stamp.width, stamp.height, stamp.dtype) == (SIZE, SIZE, ">f4"):
                parts.append(stamp.pixels)
            else:
                odd[(row, channel)] = stamp_image(stamp)
                parts.append(zero)
        full.extend(parts if ok[row] else [zero] * 3)
    cube = np.frombuffer(b"".join(full), dtype=">f4").reshape(count, 3, SIZE, SIZE)
    cube = cube.astype(np.float32)
    for (row, channel), image in odd.items():
        if ok[row]:
            cube[row, channel] = image
    np.nan_to_num(cube, copy=False, nan=0.0, posinf=np.finfo(np.float32).max,
                  neginf=np.finfo(np.float32).min)
    squares = np.einsum("ncij,ncij->nc", cube, cube, dtype=np.float64)
    # The references sum squares in float32: past its range the norm is infinite and
    # the stamp becomes zeros (saturated garbage); do the same, without warnings.
    squares[squares > np.finfo(np.float32).max] = np.inf
    # An all-zero stamp has no direction: left at zero rather than divided by zero.
    squares[squares == 0] = 1.0
    cube /= np.sqrt(squares)[:, :, None, None].astype(np.float32)
    return np.ascontiguousarray(cube.transpose(0, 2, 3, 1)), ok, errors
