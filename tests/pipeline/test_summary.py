"""The run summary: every alert accounted for, rejections by reason, the rate over the
busy time."""

from __future__ import annotations

from boom_flow.pipeline.summary import TOP_REASONS, RunSummary
from boom_flow.pipeline.worker import BatchOutcome


def test_every_alert_in_is_stored_already_there_or_repeated() -> None:
    summary = RunSummary()
    summary.add(BatchOutcome(packets=50, alerts=50, stored=20, duplicates=5, repeated=25))
    assert summary.unaccounted == 0
    assert ("stored:     20 new, 5 already in the archive, 25 repeated within a batch "
            "(stored once)") in summary.lines()
    summary.add(BatchOutcome(packets=3, alerts=3, stored=1))
    assert summary.unaccounted == 2
    assert any(line.endswith(", 2 unaccounted for") for line in summary.lines())


def test_rejections_are_listed_by_reason_most_frequent_first() -> None:
    summary = RunSummary()
    reasons = {f"reason {i}": i + 1 for i in range(TOP_REASONS + 2)}
    summary.add(BatchOutcome(packets=sum(reasons.values()), rejected=sum(reasons.values()),
                             rejected_reasons=reasons))
    assert summary.nothing_usable
    lines = summary.lines()
    start = lines.index(f"rejected:   {sum(reasons.values())} packets, by reason:")
    shown = lines[start + 1:start + 1 + TOP_REASONS]
    assert shown[0] == f"  {TOP_REASONS + 2:>6} x reason {TOP_REASONS + 1}"
    assert [int(line.split(" x ")[0]) for line in shown] == sorted(reasons.values())[::-1][:5]
    assert lines[start + 1 + TOP_REASONS] == "       3 x other reasons (2 more)"
    summary.add(BatchOutcome(packets=1, alerts=1, stored=1))
    assert not summary.nothing_usable


def test_a_long_reason_is_shortened_to_one_line() -> None:
    summary = RunSummary()
    summary.add(BatchOutcome(rejected=1, rejected_reasons={"x\n" * 200: 1}))
    [line] = summary.reason_lines()
    assert "\n" not in line and len(line) < 200 and line.endswith("...")


def test_the_rate_is_over_the_busy_time_not_the_wait() -> None:
    summary = RunSummary(started=100.0)
    summary.first_received = 110.0  # ten seconds waiting for the stream to start
    summary.add(BatchOutcome(packets=25, alerts=25, stored=25))
    summary.last_stored = 112.0
    summary.finished = 142.0  # thirty seconds idle before stopping
    assert summary.busy_s == 2.0 and summary.alerts_per_s == 12.5
    assert ("rate:       12.5 alerts/s over 2.0 s busy (42.0 s in all, waiting included)"
            in summary.lines())


def test_a_summary_with_nothing_in_has_no_rate() -> None:
    summary = RunSummary()
    assert summary.busy_s == 0.0 and summary.alerts_per_s == 0.0
    assert not summary.nothing_usable
