"""Machine description and the per-core comparison with the published figures."""

from __future__ import annotations

import pytest

from boom_flow.bench.machine import PUBLISHED, comparison, machine_info, versions


def test_machine_info_describes_this_machine() -> None:
    info = machine_info()
    assert info["cores"] >= 1 and info["ram_gb"] > 0 and info["cpu_model"]


def test_versions_name_the_packages_that_shape_the_numbers() -> None:
    found = versions()
    assert {"python", "boom_flow", "dask", "pymongo", "onnxruntime"} <= set(found)


def test_per_core_comparison() -> None:
    rows = comparison(alerts_per_s=94.0, cores=2)
    ours, *theirs = rows
    assert ours["per_core"] == 47.0
    boom_111 = next(r for r in theirs if r["system"] == "BOOM" and r["layout"].startswith("1/1/1"))
    # BOOM 1/1/1: 141 alerts/s from 3 processes = 47 per core, the same as ours.
    assert boom_111["per_core"] == 47.0
    assert boom_111["this_run_per_core_ratio"] == pytest.approx(1.0)
    assert len(theirs) == len(PUBLISHED) == 6
