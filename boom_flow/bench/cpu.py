"""Where the CPU goes: seconds per alert for each process, the machine's busy share,
and the ceiling those set.

A rate alone cannot say whether a run was limited by the CPU, by waiting, or by
someone else's job on a shared machine. The CPU each process spent per alert can:
the driver, the scheduler, every worker (its nanny included) and every server
(SecantusDB, Tansu, Valkey) are read from outside with psutil (each process with its
children, so a server's helpers count), sampled on a thread through the run, and the
system-wide counters give the share of the machine that was busy. From these:

- the **CPU ceiling**: cores / (CPU seconds per alert of every process together),
  the rate the machine would reach if the CPU were the only limit and every core
  were busy with this work;
- the **pipeline's own CPU** per alert: workers + driver + scheduler, what the
  project's code costs, apart from the servers it talks to.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from boom_flow.bench.metrics import PeriodicSampler

#: Process roles; a worker is ``worker <address>``, a server ``server <name>``.
DRIVER, SCHEDULER = "driver", "scheduler"
WORKER_PREFIX, SERVER_PREFIX = "worker ", "server "
#: Roles whose CPU is the pipeline's own (the servers' is the databases' and brokers').
PIPELINE_ROLES = (DRIVER, SCHEDULER, WORKER_PREFIX)


def tree_cpu_seconds(process: psutil.Process, apart: frozenset[int] = frozenset()
                     ) -> float | None:
    """User + system CPU seconds of ``process`` and its descendants: the live ones,
    and those that ended and were waited for (counted in their parent's
    ``children_*`` times). The subtrees of the processes in ``apart`` are left out:
    they are measured on their own (the driver starts the servers and the cluster,
    whose CPU must not count twice). None once the process is gone."""
    try:
        members = _tree(process, apart)
    except psutil.Error:
        return None
    total = 0.0
    for member in members:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue  # a child that ended between the listing and the read
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _tree(process: psutil.Process, apart: frozenset[int]) -> list[psutil.Process]:
    members, frontier = [process], [process]
    while frontier:
        parent = frontier.pop()
        try:
            children = parent.children()
        except psutil.Error:
            if parent is process:
                raise
            continue  # a child that ended while the tree was walked
        for child in children:
            if child.pid not in apart:
                members.append(child)
                frontier.append(child)
    return members


def busy_share(before: Any, after: Any) -> float | None:
    """The machine's busy share between two ``psutil.cpu_times()`` readings: every
    counter but idle and iowait, over all of them."""
    def idle(times: Any) -> float:
        return times.idle + getattr(times, "iowait", 0.0)

    total = sum(after) - sum(before)
    if total <= 0:
        return None
    return max(0.0, min(1.0, 1.0 - (idle(after) - idle(before)) / total))


@dataclass
class CpuSample:
    at_ms: float
    #: role -> CPU seconds so far (absent when the process could not be read).
    seconds: dict[str, float]
    system: Any


class CpuSampler(PeriodicSampler):
    """Samples the CPU of named processes (and of the whole machine) every
    ``interval_s``; ``window`` then gives any interval's deltas. Each process counts
    with its descendants, except those named as processes of their own."""

    def __init__(self, pids: Mapping[str, int], interval_s: float = 0.5) -> None:
        super().__init__(interval_s, "cpu-sampler")
        self._processes = {role: psutil.Process(pid) for role, pid in pids.items()}
        self._apart = frozenset(pids.values())
        self.samples: list[CpuSample] = []

    def sample(self) -> None:
        seconds = {}
        for role, process in self._processes.items():
            value = tree_cpu_seconds(process, self._apart - {process.pid})
            if value is not None:
                seconds[role] = value
        self.samples.append(CpuSample(time.time() * 1000.0, seconds, psutil.cpu_times()))

    def window(self, since_ms: float | None = None, until_ms: float | None = None
               ) -> CpuWindow:
        """The deltas from the last sample at or before ``since_ms`` to the first at or
        after ``until_ms`` (the whole sampled run by default)."""
        times = [s.at_ms for s in self.samples]
        first = 0 if since_ms is None else max(bisect.bisect_right(times, since_ms) - 1, 0)
        last = (len(times) - 1 if until_ms is None
                else min(bisect.bisect_left(times, until_ms), len(times) - 1))
        return window_between(*self.samples[first:last + 1])


@dataclass(frozen=True)
class CpuWindow:
    seconds: float
    #: role -> CPU seconds spent in the window.
    cpu: dict[str, float]
    busy: float | None


def window_between(start: CpuSample, *later: CpuSample) -> CpuWindow:
    """From ``start`` to the last of ``later``. A process read at the start but gone
    before the end counts up to its last reading; one that appeared after the start
    is left out (its earlier CPU is unknown)."""
    end = later[-1] if later else start
    cpu = {}
    for role, first in start.seconds.items():
        last = next((s.seconds[role] for s in reversed(later) if role in s.seconds), first)
        cpu[role] = round(last - first, 4)
    return CpuWindow(seconds=(end.at_ms - start.at_ms) / 1000.0, cpu=cpu,
                     busy=busy_share(start.system, end.system))


def _is_pipeline(role: str) -> bool:
    return role in (DRIVER, SCHEDULER) or role.startswith(WORKER_PREFIX)


def cpu_report(window: CpuWindow, alerts: int, cores: int,
               steady: CpuWindow | None = None, steady_alerts: int = 0,
               driver_excluded_s: float = 0.0) -> dict[str, Any]:
    """Per process and per group (pipeline, servers, all): CPU seconds and ms per
    alert over ``window``; the CPU ceiling and the pipeline's own ceiling; the
    machine's busy share over ``steady`` (the run's steady state)."""
    cpu = dict(window.cpu)
    if DRIVER in cpu:  # the samplers' own threads are the benchmark's, not the driver's
        cpu[DRIVER] = max(0.0, cpu[DRIVER] - driver_excluded_s)

    def per_alert(seconds: float) -> float | None:
        return round(seconds / alerts * 1000.0, 3) if alerts else None

    processes = [{"process": role, "cpu_s": round(s, 3), "ms_per_alert": per_alert(s)}
                 for role, s in cpu.items()]
    pipeline = sum(s for role, s in cpu.items() if _is_pipeline(role))
    servers = sum(s for role, s in cpu.items() if role.startswith(SERVER_PREFIX))
    total = pipeline + servers
    report: dict[str, Any] = {
        "alerts": alerts,
        "window_s": round(window.seconds, 2),
        "cores": cores,
        "processes": processes,
        "workers_ms_per_alert": per_alert(sum(s for role, s in cpu.items()
                                              if role.startswith(WORKER_PREFIX))),
        "pipeline_ms_per_alert": per_alert(pipeline),
        "servers_ms_per_alert": per_alert(servers),
        "total_ms_per_alert": per_alert(total),
        "cpu_ceiling_alerts_per_s": ceiling(cores, total, alerts),
        "pipeline_ceiling_alerts_per_s": ceiling(cores, pipeline, alerts),
        "busy_share_run": _round(window.busy),
        "busy_share_steady": None,
    }
    if steady is not None:
        report["busy_share_steady"] = _round(steady.busy)
        report["steady_window_s"] = round(steady.seconds, 2)
        if steady_alerts:
            steady_total = sum(steady.cpu.values())
            report["steady_total_ms_per_alert"] = round(steady_total / steady_alerts * 1000, 3)
            # What the whole machine did per alert in the steady state, whoever did it:
            # above the processes' total when other jobs shared the machine.
            if steady.busy is not None:
                report["steady_machine_ms_per_alert"] = round(
                    steady.busy * cores * steady.seconds / steady_alerts * 1000, 3)
    return report


def ceiling(cores: int, cpu_seconds: float, alerts: int) -> float | None:
    """Alerts per second ``cores`` would sustain at ``cpu_seconds`` for ``alerts``."""
    if cpu_seconds <= 0 or alerts <= 0:
        return None
    return round(cores / (cpu_seconds / alerts), 1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def depth_rows(nights: list[tuple[int, dict[str, Any], dict[str, Any]]]
               ) -> list[dict[str, Any]]:
    """Per measured depth (earlier nights stored): the rate and the CPU per alert of
    the pipeline, of each server and of everything, each also as a ratio to the
    shallowest depth's (1.0 = flat as the archive grows)."""
    rows: list[dict[str, Any]] = []
    for depth, throughput, cpu in nights:
        servers = {row["process"][len(SERVER_PREFIX):]: row["ms_per_alert"]
                   for row in cpu["processes"] if row["process"].startswith(SERVER_PREFIX)}
        rows.append({
            "prior_nights": depth,
            "alerts_per_s": throughput.get("alerts_per_s"),
            "steady_alerts_per_s": throughput.get("steady_alerts_per_s"),
            "pipeline_ms_per_alert": cpu.get("pipeline_ms_per_alert"),
            "workers_ms_per_alert": cpu.get("workers_ms_per_alert"),
            "servers_ms_per_alert": cpu.get("servers_ms_per_alert"),
            "server_ms_per_alert": servers,
            "total_ms_per_alert": cpu.get("total_ms_per_alert"),
            "cpu_ceiling_alerts_per_s": cpu.get("cpu_ceiling_alerts_per_s"),
            "aux_rereads": throughput.get("aux_rereads"),
        })
    base = rows[0] if rows else {}
    for row in rows:
        for key in ("pipeline_ms_per_alert", "servers_ms_per_alert", "total_ms_per_alert"):
            row[key.replace("_ms_per_alert", "_vs_first")] = _ratio(row[key], base.get(key))
    return rows


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round(value / base, 3)
