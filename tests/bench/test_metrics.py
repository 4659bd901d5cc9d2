"""The benchmark's arithmetic: rates, steady state, latency percentiles, stage shares,
and the RSS sampler on a real process."""

from __future__ import annotations

import os
import time

import pytest

from boom_flow.bench.metrics import (
    MemorySampler,
    OutcomeRecorder,
    percentiles,
    stage_table,
)
from boom_flow.pipeline.worker import BatchOutcome


def _recorder(completions: list[tuple[float, int]], started_ms: float = 0.0) -> OutcomeRecorder:
    recorder = OutcomeRecorder(started_ms=started_ms)
    for done_ms, alerts in completions:
        recorder.completions.append((done_ms, BatchOutcome(packets=alerts, alerts=alerts)))
    return recorder


def test_throughput_counts_from_the_start_and_steady_after_each_workers_first_batch() -> None:
    # Two workers: their first batches end at 4 s and 5 s (cold start); then one batch
    # of 100 alerts per second.
    recorder = _recorder([(4000, 100), (5000, 100), (6000, 100), (7000, 100), (8000, 100)])
    result = recorder.throughput(workers=2)
    assert result["alerts"] == 500 and result["batches"] == 5
    assert result["wall_s"] == 8.0 and result["alerts_per_s"] == pytest.approx(62.5)
    assert result["steady_s"] == 3.0 and result["steady_alerts_per_s"] == pytest.approx(100.0)


def test_steady_rate_is_absent_when_every_batch_was_a_first_one() -> None:
    result = _recorder([(1000, 10), (1200, 10)]).throughput(workers=2)
    assert result["steady_alerts_per_s"] is None and result["alerts_per_s"] > 0


def test_recorder_stops_the_run_once_every_expected_packet_is_acknowledged() -> None:
    recorder = OutcomeRecorder(expected_packets=30)
    recorder(BatchOutcome(packets=20, alerts=20, timestamps_ms=[1, 2]))
    assert not recorder.stop.is_set() and recorder.first_done.is_set()
    recorder(BatchOutcome(packets=10, alerts=10))
    assert recorder.stop.is_set()
    latencies = recorder.completion_latencies()
    assert [ts for _, ts in latencies] == [1, 2]
    assert all(latency > 0 for latency, _ in latencies)


def test_percentiles_of_a_known_sample() -> None:
    result = percentiles(list(range(1, 101)))
    assert result["count"] == 100 and result["max_ms"] == 100
    assert result["p50_ms"] == pytest.approx(50.5)
    # numpy's linear interpolation, rounded to 0.1 ms
    assert result["p95_ms"] == pytest.approx(95.05, abs=0.06)
    assert result["p99_ms"] == pytest.approx(99.01, abs=0.06)
    assert percentiles([]) == {"count": 0}


def test_stage_table_shares_and_rates() -> None:
    rows = {r["stage"]: r for r in stage_table({"decode": 1.0, "write": 3.0}, alerts=1000)}
    assert rows["decode"]["share"] == 0.25 and rows["write"]["share"] == 0.75
    assert rows["write"]["ms_per_alert"] == 3.0
    assert rows["decode"]["alerts_per_core_s"] == 1000.0


def test_memory_sampler_reads_a_growing_process() -> None:
    with MemorySampler({"me": os.getpid()}, interval_s=0.02) as sampler:
        time.sleep(0.1)
        ballast = bytearray(200 * 2**20)  # 200 MB, touched so it is resident
        ballast[:: 4096] = b"x" * len(ballast[:: 4096])
        time.sleep(0.1)
    summary = sampler.summary()
    me = summary["workers"]["me"]
    assert me["samples"] >= 4
    assert me["peak_mb"] >= me["start_mb"] + 150
    assert me["growth_mb"] >= 150
    assert summary["peak_mb"] == me["peak_mb"]
    del ballast
