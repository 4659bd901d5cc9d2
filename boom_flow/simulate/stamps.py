"""Image stamps: science, template and difference cutouts with a point source in noise.

A ZTF stamp is a single-HDU FITS file (63x63 big-endian float32, ``BUNIT = 'DN'``),
gzipped. The header is written by hand (cards of 80 characters in 2880-byte blocks):
it is the same for every stamp of a size, so it is built once. Pixels are made for a
whole chunk of alerts at a time: noise from one ``standard_normal`` call, point
sources and hosts as outer products of 1-D Gaussians.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np

SIZE = 63
BLOCK = 2880
CARD = 80
#: Real stamps are ~12-15 kB gzipped at any level: float noise hardly compresses, the
#: gain is in the bytes' skewed distribution (exponents) and in the runs of blanks and
#: zeros of the header and padding. Deflate's run-length strategy gets exactly that
#: (13.3 kB for 20 kB of FITS, like level 1's 13.4 kB) at less than half the time of
#: level 1's string matching, which finds nothing in noise.
GZIP_LEVEL = 1
GZIP_STRATEGY = zlib.Z_RLE
GZIP_WBITS = 16 + zlib.MAX_WBITS


def _card(key: str, value: str) -> bytes:
    return f"{key:<8}= {value:>20}".ljust(CARD).encode("ascii")


@cache
def fits_header(width: int = SIZE, height: int = SIZE) -> bytes:
    """The primary header of a 2-D float32 image, padded to whole blocks."""
    cards = [_card("SIMPLE", "T"), _card("BITPIX", "-32"), _card("NAXIS", "2"),
             _card("NAXIS1", str(width)), _card("NAXIS2", str(height)),
             f"{'BUNIT':<8}= 'DN      '".ljust(CARD).encode("ascii"),
             b"END".ljust(CARD)]
    header = b"".join(cards)
    return header + b" " * (-len(header) % BLOCK)


def fits_bytes(image: np.ndarray) -> bytes:
    """One FITS file holding ``image`` (float32 pixels, rows along NAXIS2)."""
    height, width = image.shape
    data = image.astype(">f4").tobytes()
    return fits_header(width, height) + data + b"\0" * (-len(data) % BLOCK)


def gzip_bytes(data: bytes) -> bytes:
    """Gzip framing (header with mtime 0, so output depends on the pixels only)."""
    deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WBITS, 9, GZIP_STRATEGY)
    return deflate.compress(data) + deflate.flush()


@dataclass(frozen=True)
class StampInputs:
    """Per-alert arrays (length n) that decide what the three stamps show."""

    #: Source flux in the difference image (DN, signed by ``isdiffpos``).
    flux: np.ndarray
    #: Flux of what lies under the source in the template (star or host galaxy, DN).
    ref_flux: np.ndarray
    #: Host extent (pixels, Gaussian sigma): ~0.9 x PSF for a star, larger for galaxies.
    ref_sigma: np.ndarray
    #: Offset of the source from the host centre (pixels, x and y).
    ref_dx: np.ndarray
    ref_dy: np.ndarray
    #: PSF Gaussian sigma (pixels).
    psf_sigma: np.ndarray
    #: Sky background (DN) and pixel noise (DN) of the science image.
    sky: np.ndarray
    noise: np.ndarray


def _gaussian_images(sigma: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                     flux: np.ndarray) -> np.ndarray:
    """Normalised 2-D Gaussians times ``flux``, one per alert: [n, SIZE, SIZE]."""
    axis = np.arange(SIZE, dtype=np.float32) - (SIZE - 1) / 2
    s = sigma.astype(np.float32)[:, None]
    gx = np.exp(-0.5 * ((axis[None, :] - dx.astype(np.float32)[:, None]) / s) ** 2)
    gy = np.exp(-0.5 * ((axis[None, :] - dy.astype(np.float32)[:, None]) / s) ** 2)
    scale = (flux / (2 * np.pi * sigma ** 2)).astype(np.float32)
    return np.einsum("ni,nj->nij", gy * scale[:, None], gx)


def make_images(rng: np.random.Generator, inputs: StampInputs
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Science, template and difference pixels ([n, 63, 63] float32 each).

    The template holds the host (or star) at a deeper, smoother noise level; the
    science image adds the night's sky; the difference is the source in the combined
    noise. A negative difference (the object faded) puts the flux in the template.
    """
    n = len(inputs.flux)
    noise = rng.standard_normal((3, n, SIZE, SIZE), dtype=np.float32)
    sub = rng.uniform(-0.5, 0.5, (2, n))
    host = _gaussian_images(inputs.ref_sigma, inputs.ref_dx + sub[0], inputs.ref_dy + sub[1],
                            inputs.ref_flux)
    source = _gaussian_images(inputs.psf_sigma, sub[0], sub[1], inputs.flux)
    level = inputs.noise.astype(np.float32)[:, None, None]
    sky = inputs.sky.astype(np.float32)[:, None, None]
    template = host + np.maximum(-source, 0) + 0.35 * level * noise[0] + 0.4 * sky
    science = host + np.maximum(source, 0) + sky + level * noise[1]
    difference = source + 1.1 * level * noise[2]
    return science, template, difference


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                              thread_name_prefix="boom-flow-stamps")


def gzipped_fits(images: np.ndarray) -> list[bytes]:
    """Gzipped FITS of each image of a stack. zlib releases the GIL, and compression
    is most of the simulator's time, so stamps are compressed on a few threads (the
    bytes do not depend on which thread made them)."""
    return list(_pool().map(lambda image: gzip_bytes(fits_bytes(image)), images))
