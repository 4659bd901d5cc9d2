"""The page's numbers from hand-made events (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from boom_flow.dashboard.window import (
    Window,
    filter_passes,
    kafka_lag,
    latency,
    rates,
    stage_times,
    summary,
    worker_memory,
)

NOW_S = 1_800_000_000.0


def event(at_s: float, **fields: Any) -> dict[str, Any]:
    base = {"run": "r", "survey": "ztf", "at_ms": at_s * 1000, "packets": 10, "alerts": 10,
            "stored": 8, "duplicates": 2, "rejected": 0, "seconds": {}, "latency_ms": []}
    return {**base, **fields}


def test_rates_are_per_second_per_bin_and_idle_bins_are_zero() -> None:
    window = Window.of([event(NOW_S - 9.5), event(NOW_S - 9.0, rejected=4),
                        event(NOW_S - 1.0)], NOW_S, span_s=10, bin_s=2)
    columns = rates(window, smooth_s=2)
    assert len(columns["time"]) == 5
    assert columns["in"] == [10.0, 0.0, 0.0, 0.0, 5.0]
    assert columns["stored"] == [8.0, 0.0, 0.0, 0.0, 4.0]
    assert columns["rejected"] == [2.0, 0.0, 0.0, 0.0, 0.0]


def test_rates_average_over_the_trailing_span() -> None:
    window = Window.of([event(NOW_S - 9.5), event(NOW_S - 9.0), event(NOW_S - 1.0)],
                       NOW_S, span_s=10, bin_s=2)
    # 20 alerts in the first bin, 10 in the last; averaged over 4 s (two bins).
    assert rates(window, smooth_s=4)["in"] == [5.0, 5.0, 0.0, 0.0, 2.5]


def test_old_events_leave_the_window_unless_nothing_newer_exists() -> None:
    old, recent = event(NOW_S - 400), event(NOW_S - 5)
    assert Window.of([old, recent], NOW_S).events == (recent,)
    # A run that ended long ago is still shown, not an empty page.
    assert Window.of([old], NOW_S).events == (old,)


def test_stage_times_are_ms_per_alert_in_pipeline_order() -> None:
    window = Window.of([event(NOW_S - 3, seconds={"decode": 0.1, "write": 0.3}),
                        event(NOW_S - 2, seconds={"decode": 0.1, "filter": 0.2})], NOW_S)
    columns = stage_times(window)
    assert columns["stage"] == ["decode", "write", "filter"]
    assert columns["ms_per_alert"] == pytest.approx([10.0, 15.0, 10.0])


def test_latency_percentiles_per_bin_skip_bins_without_alerts() -> None:
    window = Window.of([event(NOW_S - 9, latency_ms=list(range(1, 101))),
                        event(NOW_S - 5), event(NOW_S - 1, latency_ms=[500])],
                       NOW_S, span_s=10, bin_s=2)
    columns = latency(window)
    assert len(columns["time"]) == 2
    assert columns["p50"][0] == pytest.approx(50.5)
    assert columns["p99"][0] == pytest.approx(99.0)  # 99.01, rounded to 0.1 ms
    assert columns["p95"][1] == 500
    assert summary(window)["latency_p50_ms"] == pytest.approx(51.0)


def test_kafka_lag_is_the_newest_non_empty_sample() -> None:
    window = Window.of([event(NOW_S - 3, kafka_lag={"t:0": 50, "t:1": 7}),
                        event(NOW_S - 2, kafka_lag={}), event(NOW_S - 1)], NOW_S)
    assert kafka_lag(window) == {"partition": ["t:0", "t:1"], "lag": [50, 7]}
    assert kafka_lag(Window.of([event(NOW_S - 1)], NOW_S)) == {"partition": [], "lag": []}


def test_filter_passes_add_up_by_filter_with_names() -> None:
    names = {"aaaaaa111111": "cats", "bbbbbb222222": "dogs"}
    window = Window.of([
        event(NOW_S - 3, filter_passes={"aaaaaa111111": 2}, filter_names=names),
        event(NOW_S - 2, filter_passes={"aaaaaa111111": 1, "bbbbbb222222": 5},
              filter_names=names)], NOW_S)
    assert filter_passes(window) == {"filter": ["dogs [222222]", "cats [111111]"],
                                     "passes": [5, 3]}


def test_worker_memory_in_mib() -> None:
    assert worker_memory([("w0", 3 * 2**20, 4 * 2**30), ("w1", 2**19, None)]) == {
        "worker": ["w0", "w1"], "memory_mb": [3.0, 0.5], "limit_mb": [4096.0, 0.0]}


def test_summary_counts_batches_runs_and_failures() -> None:
    window = Window.of([event(NOW_S - 4, run="a"), event(NOW_S - 2, run="b", failed=True)],
                       NOW_S)
    found = summary(window)
    assert (found["alerts"], found["stored"], found["batches"]) == (20, 16, 2)
    assert found["runs"] == ["a", "b"] and found["failed_batches"] == 1
    assert found["alerts_per_s"] == pytest.approx(10.0)
