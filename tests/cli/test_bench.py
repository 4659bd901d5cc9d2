"""``boom-flow bench`` stopped with SIGTERM stops what it started: its servers and its
Dask processes do not outlive it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil


def test_sigterm_stops_the_servers_and_the_cluster_it_started(tmp_path: Path) -> None:
    started: list[psutil.Process] = []
    bench = subprocess.Popen(
        [sys.executable, "-m", "boom_flow", "bench", "--quick", "--alerts", "40",
         "--catalog-rows", "0", "--out", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # Servers (3), then the scheduler and the workers' processes.
        while len(started) < 5 and bench.poll() is None:
            assert time.monotonic() < deadline, "the bench did not start its processes"
            time.sleep(0.5)
            started = psutil.Process(bench.pid).children(recursive=True)
        assert bench.poll() is None
        bench.send_signal(signal.SIGTERM)
        bench.wait(120)
        _, alive = psutil.wait_procs(started, timeout=30)
        assert not alive, [p.cmdline()[:3] for p in alive]
    finally:  # whatever happened, nothing of the bench's is left running
        if bench.poll() is None:
            bench.kill()
        bench.wait(30)
        for process in started:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue
