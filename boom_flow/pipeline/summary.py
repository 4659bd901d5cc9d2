"""Counters of a run, printed by ``replay`` and ``run`` at the end.

Every alert that came in is accounted for: stored new, already in the archive, or
repeated within its batch (stored once); every packet that could not be used is
counted as rejected, by reason. The rate is taken over the busy time, from the first
batch in to the last one stored, so that waiting for a stream to start or to fall
idle (``run --until-idle``) does not dilute it.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from boom_flow.pipeline.worker import BatchOutcome

#: Reasons shown in the summary (the rest are counted as "other reasons").
TOP_REASONS = 5
_REASON_CHARS = 160


@dataclass
class RunSummary:
    batches: int = 0
    packets: int = 0
    alerts: int = 0
    stored: int = 0
    duplicates: int = 0
    #: Alerts that came more than once within one batch (stored once).
    repeated: int = 0
    rejected: int = 0
    #: Aux re-reads at write time (``stages.write``): concurrent writers of one object.
    aux_reads: int = 0
    rejected_reasons: Counter[str] = field(default_factory=Counter)
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    #: When the first batch came in and when the last one was stored (monotonic).
    first_received: float | None = None
    last_stored: float | None = None

    def received(self) -> None:
        """A batch came in (the busy time starts with the first)."""
        if self.first_received is None:
            self.first_received = time.monotonic()

    def add(self, outcome: BatchOutcome) -> None:
        self.last_stored = time.monotonic()
        if self.first_received is None:
            self.first_received = self.started
        self.batches += 1
        self.packets += outcome.packets
        self.alerts += outcome.alerts
        self.stored += outcome.stored
        self.duplicates += outcome.duplicates
        self.repeated += outcome.repeated
        self.rejected += outcome.rejected
        self.aux_reads += outcome.counts.get("aux_reads", 0)
        self.rejected_reasons.update(outcome.rejected_reasons)
        for stage, seconds in outcome.seconds.items():
            self.stage_seconds[stage] += seconds

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def busy_s(self) -> float:
        """From the first batch in to the last one stored (0 before any)."""
        if self.first_received is None or self.last_stored is None:
            return 0.0
        return max(self.last_stored - self.first_received, 0.0)

    @property
    def alerts_per_s(self) -> float:
        return self.alerts / self.busy_s if self.busy_s > 0 else 0.0

    @property
    def unaccounted(self) -> int:
        """Alerts neither stored, found in the archive nor repeated: always 0 unless a
        count is wrong (shown, never hidden)."""
        return self.alerts - self.stored - self.duplicates - self.repeated

    @property
    def nothing_usable(self) -> bool:
        """Packets came in and every one was rejected: nothing could be stored."""
        return self.alerts == 0 and self.rejected > 0

    def reason_lines(self) -> list[str]:
        top = self.rejected_reasons.most_common(TOP_REASONS)
        lines = [f"  {count:>6} x {_short(reason)}" for reason, count in top]
        others = self.rejected - sum(count for _, count in top)
        if others > 0:
            lines.append(f"  {others:>6} x other reasons "
                         f"({len(self.rejected_reasons) - len(top)} more)")
        return lines

    def lines(self) -> list[str]:
        total = sum(self.stage_seconds.values()) or 1.0
        shares = ", ".join(f"{stage} {seconds / total:.0%}"
                           for stage, seconds in self.stage_seconds.items())
        stored = (f"stored:     {self.stored} new, {self.duplicates} already in the archive, "
                  f"{self.repeated} repeated within a batch (stored once)")
        if self.unaccounted:
            stored += f", {self.unaccounted} unaccounted for"
        waited = self.elapsed_s - self.busy_s
        rate = f"rate:       {self.alerts_per_s:.1f} alerts/s over {self.busy_s:.1f} s busy"
        if waited >= 0.05:
            rate += f" ({self.elapsed_s:.1f} s in all, waiting included)"
        return [
            f"alerts in:  {self.alerts} (from {self.packets} packets in {self.batches} batches)",
            stored,
            f"rejected:   {self.rejected}" + (" packets, by reason:" if self.rejected else ""),
            *self.reason_lines(),
            rate,
            f"stage time: {shares or '-'}",
        ]


def _short(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= _REASON_CHARS else reason[:_REASON_CHARS - 3] + "..."
