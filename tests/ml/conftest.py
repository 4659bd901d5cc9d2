"""Helpers for the model tests: the shared ONNX folder, the packaged model specs, and
FITS stamps written by hand (to test the reader on layouts the real data lacks)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from boom_flow.config import load_settings


def fits_stamp(image: np.ndarray, compress: bool = True) -> bytes:
    """A minimal single-HDU FITS file (BITPIX -32) holding ``image`` [NAXIS2, NAXIS1]."""
    height, width = image.shape
    cards = [f"{'SIMPLE':8}= {'T':>20}", f"{'BITPIX':8}= {-32:>20}", f"{'NAXIS':8}= {2:>20}",
             f"{'NAXIS1':8}= {width:>20}", f"{'NAXIS2':8}= {height:>20}",
             f"{'COMMENT':8}  written by the boom_flow tests", "END"]
    header = "".join(card.ljust(80) for card in cards).encode()
    header += b" " * (-len(header) % 2880)
    data = image.astype(">f4").tobytes()
    data += b"\x00" * (-len(data) % 2880)
    raw = header + data
    return gzip.compress(raw) if compress else raw


@pytest.fixture(scope="session")
def onnx_dir(shared_data: Path) -> Path:
    return shared_data / "models" / "onnx"


@pytest.fixture(scope="session")
def ztf_specs() -> list[dict[str, Any]]:
    """The packaged ZTF model list (ACAI x5, BTSbot), as plain mappings."""
    return [spec.model_dump(mode="json") for spec in load_settings(environ={}).models.ztf]
