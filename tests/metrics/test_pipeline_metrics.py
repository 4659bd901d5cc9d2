"""PipelineMetrics counts what each BatchOutcome says; the server answers /metrics and a
/health whose status code follows the consume loop's heartbeat."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import generate_latest

from boom_flow.metrics import MetricsServer, PipelineMetrics
from boom_flow.pipeline.worker import BatchOutcome
from tests.metrics.scrape import parse, scrape, total, value


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def outcome(**fields: object) -> BatchOutcome:
    base: dict[str, object] = {
        "packets": 10, "alerts": 9, "stored": 6, "duplicates": 3, "rejected": 2,
        "seconds": {"decode": 0.2, "write": 0.5},
        "timestamps_ms": [99_000, 98_000, 90_000],
        "rejected_reasons": {"undecodable ZTF packet": 1},
        "filter_passes": {"f1": 4, "f2": 1},
        "counts": {"stored": 6, "aux_reads": 2},
    }
    base.update(fields)
    return BatchOutcome(**base)  # type: ignore[arg-type]


def test_counters_histograms_and_gauges_follow_the_outcomes() -> None:
    clock = Clock(100.0)
    metrics = PipelineMetrics("ztf", clock=clock)
    metrics.observe(outcome())
    metrics.observe(outcome(error="boom"))  # counted as a failed batch, nothing else
    metrics.lag("ztf_20240101_programid1", 3, 42)
    s = parse(generate_latest(metrics.registry).decode())
    ztf = {"survey": "ztf"}
    assert value(s, "boom_flow_alerts_consumed_total", **ztf) == 10
    assert value(s, "boom_flow_alerts_stored_total", **ztf) == 6
    assert value(s, "boom_flow_alerts_existing_total", **ztf) == 3
    assert value(s, "boom_flow_aux_rereads_total", **ztf) == 2
    # One reason given by the worker, one rejection it did not explain.
    assert value(s, "boom_flow_alerts_rejected_total", reason="undecodable ZTF packet",
                 **ztf) == 1
    assert value(s, "boom_flow_alerts_rejected_total", reason="unknown", **ztf) == 1
    assert value(s, "boom_flow_batches_total", status="ok", **ztf) == 1
    assert value(s, "boom_flow_batches_total", status="failed", **ztf) == 1
    assert value(s, "boom_flow_filter_passes_total", filter_id="f1", **ztf) == 4
    assert value(s, "boom_flow_stage_seconds_sum", stage="write", **ztf) == pytest.approx(0.5)
    assert value(s, "boom_flow_batch_seconds_sum", **ztf) == pytest.approx(0.7)
    # Latencies 1 s, 2 s and 10 s after the Kafka timestamps.
    assert value(s, "boom_flow_alert_latency_seconds_count", **ztf) == 3
    assert value(s, "boom_flow_alert_latency_seconds_sum", **ztf) == pytest.approx(13.0)
    assert value(s, "boom_flow_alert_latency_seconds_bucket", le="2.0", **ztf) == 2
    assert value(s, "boom_flow_kafka_lag", topic="ztf_20240101_programid1", partition="3",
                 **ztf) == 42
    assert value(s, "boom_flow_last_batch_timestamp_seconds", **ztf) == 100.0
    assert total(s, "process_cpu_seconds_total") > 0  # process collectors come along


def test_health_goes_stale_when_the_loop_stops_polling() -> None:
    clock = Clock(1000.0)
    metrics = PipelineMetrics("lsst", clock=clock)
    with MetricsServer(metrics.registry, lambda: metrics.health(30.0)) as server:
        url = f"http://127.0.0.1:{server.port}"
        starting = httpx.get(url + "/health")
        assert starting.status_code == 200 and starting.json()["seconds_since_poll"] is None
        clock.now += 31  # never polled, past the grace period
        assert httpx.get(url + "/health").status_code == 503
        metrics.polled()
        clock.now += 5
        healthy = httpx.get(url + "/health")
        assert healthy.status_code == 200
        assert healthy.json()["seconds_since_poll"] == pytest.approx(5.0)
        clock.now += 30
        stalled = httpx.get(url + "/health")
        assert stalled.status_code == 503 and stalled.json()["status"] == "stalled"
        samples = scrape(url + "/metrics")
        assert value(samples, "boom_flow_last_poll_timestamp_seconds", survey="lsst") == 1000 + 31
        assert httpx.get(url + "/nothing").status_code == 404
