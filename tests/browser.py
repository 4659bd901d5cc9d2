"""Headless Chromium screenshots for tests (Debian's ``chromium``; skips without it)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

#: Flags for a closed network: no background connections, no first-run work.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--disable-dev-shm-usage")


def chromium() -> str:
    """The Chromium binary, or skip the test saying why."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless browser: install Debian's chromium (`apt-get install -y "
                "chromium`; .ci/run does when it runs as root) to screenshot the pages")


def screenshot(url: str, out: Path, size: tuple[int, int] = (1200, 1000),
               wait_ms: int = 5000) -> Path:
    """A PNG of ``url`` after ``wait_ms`` of (virtual) time for its scripts to run."""
    with tempfile.TemporaryDirectory(prefix="boom-flow-chromium-") as profile:
        done = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}",
             f"--window-size={size[0]},{size[1]}", f"--virtual-time-budget={wait_ms}",
             f"--screenshot={out}", url],
            capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and out.is_file(), done.stderr[-2000:]
    return out


def ink(path: Path) -> float:
    """Share of the picture's pixels that are not the background colour (0: blank)."""
    pixels = imread(path)[..., :3]
    background = np.median(pixels.reshape(-1, 3), axis=0)
    return float((np.abs(pixels - background).sum(axis=-1) > 0.1).mean())


def colours(path: Path) -> int:
    """Distinct colours in the picture (a page of text and charts has many)."""
    pixels = (imread(path)[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    return len(np.unique(pixels, axis=0))
