"""Timing helper the benchmark scripts share (run them as ``python benchmarks/NAME.py``:
the scripts' folder is then on the import path)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(repeat: int, work: Callable[[], object]) -> float:
    """The fastest of ``repeat`` runs of ``work``, in seconds: the least disturbed by a
    shared machine."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)
