"""Cutout triplets: the direct FITS reader against astropy and the golden triplets."""

from __future__ import annotations

import gzip
import io
import warnings
from pathlib import Path

import fastavro
import numpy as np
import pytest

from boom_flow.ml.triplets import SIZE, StampError, prepare_triplets, read_stamp
from tests.ml.conftest import fits_stamp


def _real_stamps(shared: Path, limit: int = 40) -> list[tuple[bytes, bytes, bytes]]:
    stamps = []
    for path in sorted((shared / "ztf" / "alerts").rglob("*.avro"))[:limit]:
        with path.open("rb") as handle:
            for record in fastavro.reader(handle):
                stamps.append(tuple(record[f"cutout{c}"]["stampData"]
                                    for c in ("Science", "Template", "Difference")))
    return stamps


def test_reader_matches_astropy_on_real_stamps(shared_data: Path) -> None:
    fits = pytest.importorskip("astropy.io.fits")
    stamps = _real_stamps(shared_data)
    triplets, ok, errors = prepare_triplets(stamps)
    assert ok.all() and errors == [None] * len(stamps)
    assert triplets.shape == (len(stamps), SIZE, SIZE, 3) and triplets.dtype == np.float32
    for row, triplet in enumerate(stamps):
        for channel, data in enumerate(triplet):
            with warnings.catch_warnings():
                # ZTF's SIMPLE card is not quite standard; astropy says so.
                warnings.simplefilter("ignore", fits.verify.VerifyWarning)
                with fits.open(io.BytesIO(gzip.decompress(data))) as hdus:
                    image = np.nan_to_num(hdus[0].data.astype(np.float64))
            norm = np.sqrt((image**2).sum())
            expected = image / norm if 0 < norm < np.finfo(np.float32).max else 0 * image
            np.testing.assert_allclose(triplets[row, :, :, channel], expected, atol=1e-6)


def test_stamps_written_from_the_golden_triplets_read_back_identically(
    shared_data: Path,
) -> None:
    golden = np.load(shared_data / "models" / "golden" / "btsbot_usage_triplets.npy")
    stamps = [tuple(fits_stamp(golden[i, :, :, c]) for c in range(3))
              for i in range(len(golden))]
    triplets, ok, _ = prepare_triplets(stamps)
    assert ok.all()
    # The golden triplets are already unit-norm per channel: reading them back through
    # FITS and normalising again must give them back (layout, orientation, channels).
    np.testing.assert_allclose(triplets, golden, atol=1e-6)


def test_a_small_edge_stamp_is_zero_padded_centred_like_boom() -> None:
    rng = np.random.default_rng(3)
    small = rng.normal(size=(60, 61)).astype(np.float32)  # NAXIS2=60 rows, NAXIS1=61
    full = rng.normal(size=(SIZE, SIZE)).astype(np.float32)
    triplets, ok, _ = prepare_triplets([(fits_stamp(small), fits_stamp(full),
                                         fits_stamp(full, compress=False))])
    assert ok.all()
    science = triplets[0, :, :, 0]
    top, left = 2, 1  # ceil((63 - 60) / 2), ceil((63 - 61) / 2)
    np.testing.assert_allclose(science[top:top + 60, left:left + 61],
                               small / np.linalg.norm(small), rtol=1e-5)
    assert not science[:top].any() and not science[top + 60:].any()
    assert not science[:, :left].any() and not science[:, left + 61:].any()
    np.testing.assert_allclose(triplets[0, :, :, 2], full / np.linalg.norm(full), rtol=1e-5)


def test_nans_become_zero_and_bad_stamps_spoil_only_their_alert() -> None:
    image = np.arange(SIZE * SIZE, dtype=np.float32).reshape(SIZE, SIZE)
    image[5, 7] = np.nan
    good = fits_stamp(image)
    stamps = [
        (good, good, good),
        (good, None, good),
        (good, good, b"\x1f\x8b" + b"not gzip at all"),
        (good, gzip.compress(b"GIF89a" + b"\x00" * 4000), good),
        (good, good, good[: len(good) // 3]),
    ]
    triplets, ok, errors = prepare_triplets(stamps)
    assert ok.tolist() == [True, False, False, False, False]
    assert triplets[0, 5, 7, 0] == 0.0 and np.isfinite(triplets[0]).all()
    assert np.linalg.norm(triplets[0, :, :, 1]) == pytest.approx(1.0, rel=1e-5)
    assert "cutoutTemplate is missing" in errors[1]
    assert "cutoutDifference" in errors[2] and "gzip" in errors[2]
    assert "not a FITS file" in errors[3]
    assert errors[4] is not None and not triplets[1:].any()


def test_read_stamp_rejects_unsupported_layouts() -> None:
    cube = fits_stamp(np.zeros((70, 70), dtype=np.float32))
    with pytest.raises(StampError, match="70x70"):
        read_stamp(cube)
    raw = gzip.decompress(fits_stamp(np.zeros((4, 4), dtype=np.float32))).replace(
        b"BITPIX  =                  -32", b"BITPIX  =                   16")
    with pytest.raises(StampError, match="BITPIX 16"):
        read_stamp(raw)
