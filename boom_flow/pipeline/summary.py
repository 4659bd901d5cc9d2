"""Counters of a run, printed by ``replay`` and ``run`` at the end."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from boom_flow.pipeline.worker import BatchOutcome


@dataclass
class RunSummary:
    batches: int = 0
    packets: int = 0
    alerts: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def add(self, outcome: BatchOutcome) -> None:
        self.batches += 1
        self.packets += outcome.packets
        self.alerts += outcome.alerts
        self.stored += outcome.stored
        self.duplicates += outcome.duplicates
        self.rejected += outcome.rejected
        for stage, seconds in outcome.seconds.items():
            self.stage_seconds[stage] += seconds

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def alerts_per_s(self) -> float:
        return self.alerts / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def lines(self) -> list[str]:
        total = sum(self.stage_seconds.values()) or 1.0
        shares = ", ".join(f"{stage} {seconds / total:.0%}"
                           for stage, seconds in self.stage_seconds.items())
        return [
            f"alerts in:  {self.alerts} (from {self.packets} packets in {self.batches} batches)",
            f"stored:     {self.stored} new, {self.duplicates} already in the archive",
            f"rejected:   {self.rejected}",
            f"rate:       {self.alerts_per_s:.1f} alerts/s over {self.elapsed_s:.1f} s",
            f"stage time: {shares or '-'}",
        ]
