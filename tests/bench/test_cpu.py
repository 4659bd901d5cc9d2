"""The benchmark's CPU accounting: per-process deltas, the machine's busy share, the
CPU ceiling, the per-depth table, and the sampler on real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import namedtuple

import psutil
import pytest

from boom_flow.bench.cpu import (
    CpuSample,
    CpuSampler,
    busy_share,
    ceiling,
    cpu_report,
    depth_rows,
    tree_cpu_seconds,
    window_between,
)

Times = namedtuple("Times", "user nice system idle iowait")


def _sample(at_ms: float, seconds: dict[str, float], idle: float, busy: float) -> CpuSample:
    return CpuSample(at_ms, seconds, Times(busy, 0.0, 0.0, idle, 0.0))


def test_busy_share_counts_everything_but_idle_and_iowait() -> None:
    before = Times(10.0, 0.0, 5.0, 80.0, 5.0)
    after = Times(40.0, 0.0, 15.0, 100.0, 5.0)  # +40 busy, +20 idle
    assert busy_share(before, after) == pytest.approx(40 / 60)
    assert busy_share(after, after) is None


def test_report_splits_pipeline_from_servers_and_sets_the_ceiling() -> None:
    start = _sample(0, {"driver": 1.0, "scheduler": 0.0, "worker a": 0.0, "worker b": 0.0,
                        "server mongodb": 0.0, "server kafka": 0.0}, idle=0.0, busy=0.0)
    end = _sample(10_000, {"driver": 3.0, "scheduler": 0.5, "worker a": 7.0, "worker b": 7.5,
                           "server mongodb": 4.0, "server kafka": 1.0}, idle=2.0, busy=18.0)
    window = window_between(start, end)
    report = cpu_report(window, alerts=1000, cores=2, steady=window, steady_alerts=1000,
                        driver_excluded_s=0.5)
    by_process = {row["process"]: row for row in report["processes"]}
    # The samplers' own 0.5 s are taken off the driver's 2 s.
    assert by_process["driver"]["cpu_s"] == pytest.approx(1.5)
    assert by_process["worker a"]["ms_per_alert"] == pytest.approx(7.0)
    assert report["workers_ms_per_alert"] == pytest.approx(14.5)
    assert report["pipeline_ms_per_alert"] == pytest.approx(16.5)  # 1.5 + 0.5 + 7 + 7.5
    assert report["servers_ms_per_alert"] == pytest.approx(5.0)
    assert report["total_ms_per_alert"] == pytest.approx(21.5)
    # 2 cores / 21.5 ms per alert.
    assert report["cpu_ceiling_alerts_per_s"] == pytest.approx(2 / 0.0215, abs=0.1)
    assert report["pipeline_ceiling_alerts_per_s"] == pytest.approx(2 / 0.0165, abs=0.1)
    assert report["busy_share_steady"] == pytest.approx(0.9)
    # 90% of 2 cores over 10 s, for 1000 alerts.
    assert report["steady_machine_ms_per_alert"] == pytest.approx(18.0)


def test_a_process_gone_counts_to_its_last_reading_and_a_late_one_is_left_out() -> None:
    start = _sample(0, {"driver": 1.0, "worker gone": 2.0}, idle=0, busy=0)
    middle = _sample(500, {"driver": 1.5, "worker gone": 4.0}, idle=1, busy=1)
    end = _sample(1000, {"driver": 2.0, "worker late": 5.0}, idle=1, busy=1)
    assert window_between(start, middle, end).cpu == {"driver": 1.0, "worker gone": 2.0}


def test_ceiling_without_work_is_unknown() -> None:
    assert ceiling(2, 0.0, 100) is None and ceiling(2, 1.0, 0) is None
    assert ceiling(4, 2.0, 1000) == 2000.0


def test_depth_rows_state_each_depth_against_the_first() -> None:
    def night(pipeline: float, mongo: float) -> dict:
        return {"processes": [{"process": "driver", "ms_per_alert": 1.0},
                              {"process": "server mongodb", "ms_per_alert": mongo}],
                "pipeline_ms_per_alert": pipeline, "servers_ms_per_alert": mongo,
                "total_ms_per_alert": pipeline + mongo}

    rows = depth_rows([(1, {"alerts_per_s": 40.0}, night(20.0, 10.0)),
                       (10, {"alerts_per_s": 30.0, "aux_rereads": 2}, night(22.0, 15.0))])
    assert [row["prior_nights"] for row in rows] == [1, 10]
    assert rows[0]["pipeline_vs_first"] == 1.0
    assert rows[1]["pipeline_vs_first"] == pytest.approx(1.1)
    assert rows[1]["servers_vs_first"] == pytest.approx(1.5)
    assert rows[1]["server_ms_per_alert"] == {"mongodb": 15.0}
    assert [row["aux_rereads"] for row in rows] == [None, 2]


def test_sampler_reads_a_real_process_tree_and_windows_by_time() -> None:
    # A parent whose child burns CPU: the tree's CPU is the child's.
    burn = "import time; end = time.process_time() + 0.6\nwhile time.process_time() < end: pass"
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys; subprocess.run([sys.executable, "
                               f"'-c', {burn!r}])"])
    try:
        with CpuSampler({"tree": parent.pid}, interval_s=0.05) as sampler:
            deadline = time.monotonic() + 30
            while parent.poll() is None and time.monotonic() < deadline:
                before_exit = tree_cpu_seconds(psutil.Process(parent.pid))
                time.sleep(0.05)
    finally:
        parent.wait(30)
    assert before_exit is not None
    whole = sampler.window()
    # The child's 0.6 s count (while it runs, then as the parent's waited-for child).
    assert 0.5 <= whole.cpu["tree"] <= 2.5
    assert whole.seconds > 0 and len(sampler.samples) >= 3
    middle = sampler.samples[len(sampler.samples) // 2].at_ms
    assert sampler.window(middle, None).cpu["tree"] <= whole.cpu["tree"]
    assert sampler.own_seconds >= 0.0


def test_a_measured_child_is_not_counted_again_in_its_parent() -> None:
    # The driver starts the servers and the cluster: their CPU is theirs, not its.
    burn = ("import time; end = time.process_time() + 0.6\n"
            "while time.process_time() < end: pass\ntime.sleep(0.5)")
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; child = subprocess.Popen("
         f"[sys.executable, '-c', {burn!r}]); print(child.pid, flush=True); child.wait()"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        with CpuSampler({"parent": parent.pid, "child": child}, interval_s=0.05) as sampler:
            while psutil.pid_exists(child) and psutil.Process(child).status() != "zombie":
                time.sleep(0.05)
                if sampler.samples and sampler.samples[-1].seconds.get("child", 0) > 0.55:
                    break
    finally:
        parent.wait(30)
    cpu = sampler.window().cpu
    assert cpu["child"] >= 0.4
    assert cpu["parent"] < 0.2
