"""The metric names and labels boom_flow exposes: one vocabulary for the code, the
Grafana dashboard beside the chart and ``docs/cluster.md`` (a test keeps them in step).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricName:
    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


PREFIX = "boom_flow_"

ALERTS_CONSUMED = MetricName(
    "boom_flow_alerts_consumed_total", "counter", ("survey",),
    "Packets the ingest process read from its source (Kafka or files).")
ALERTS_STORED = MetricName(
    "boom_flow_alerts_stored_total", "counter", ("survey",),
    "Alerts written to the archive for the first time.")
ALERTS_EXISTING = MetricName(
    "boom_flow_alerts_existing_total", "counter", ("survey",),
    "Alerts that were already in the archive (redelivered or replayed again).")
ALERTS_REJECTED = MetricName(
    "boom_flow_alerts_rejected_total", "counter", ("survey", "reason"),
    "Packets kept in {S}_alerts_rejected, by the reason's kind (text before its first ':').")
BATCHES = MetricName(
    "boom_flow_batches_total", "counter", ("survey", "status"),
    "Batches acknowledged, status ok or failed (a failed batch stops the run uncommitted).")
STAGE_SECONDS = MetricName(
    "boom_flow_stage_seconds", "histogram", ("survey", "stage"),
    "Seconds a worker spent in one stage of one batch (decode, history, crossmatch, ...).")
BATCH_SECONDS = MetricName(
    "boom_flow_batch_seconds", "histogram", ("survey",),
    "Seconds a worker spent on one batch, all stages together.")
ALERT_LATENCY = MetricName(
    "boom_flow_alert_latency_seconds", "histogram", ("survey",),
    "Seconds from an alert's Kafka timestamp to its batch being stored and acknowledged.")
KAFKA_LAG = MetricName(
    "boom_flow_kafka_lag", "gauge", ("survey", "topic", "partition"),
    "Messages between the group's last commit and the partition's high watermark.")
KAFKA_PARTITIONS = MetricName(
    "boom_flow_kafka_partitions_assigned", "gauge", ("survey",),
    "Partitions the consumer group gave this process (they move at each rebalance).")
FILTER_PASSES = MetricName(
    "boom_flow_filter_passes_total", "counter", ("survey", "filter_id"),
    "Alerts that passed a user's filter (filter_id as `boom-flow filters list` shows it).")
AUX_REREADS = MetricName(
    "boom_flow_aux_rereads_total", "counter", ("survey",),
    "Re-reads of {S}_alerts_aux at write time: another writer changed a batch's objects "
    "meanwhile (rare while batch.route_by_object keeps each object on one worker).")
LAST_POLL = MetricName(
    "boom_flow_last_poll_timestamp_seconds", "gauge", ("survey",),
    "Unix time of the consume loop's last poll of its source (the liveness heartbeat).")
LAST_BATCH = MetricName(
    "boom_flow_last_batch_timestamp_seconds", "gauge", ("survey",),
    "Unix time the last batch was acknowledged.")
API_REQUESTS = MetricName(
    "boom_flow_api_requests_total", "counter", ("method", "route", "status"),
    "HTTP requests answered by the API, by route template (e.g. /queries/find) and status.")
API_LATENCY = MetricName(
    "boom_flow_api_request_seconds", "histogram", ("method", "route"),
    "Seconds the API took to answer a request, by route template.")

PIPELINE_METRICS = (ALERTS_CONSUMED, ALERTS_STORED, ALERTS_EXISTING, ALERTS_REJECTED, BATCHES,
                    STAGE_SECONDS, BATCH_SECONDS, ALERT_LATENCY, KAFKA_LAG, KAFKA_PARTITIONS,
                    FILTER_PASSES, AUX_REREADS,
                    LAST_POLL, LAST_BATCH)
API_METRICS = (API_REQUESTS, API_LATENCY)
ALL_METRICS = PIPELINE_METRICS + API_METRICS

#: Seconds: a stage takes milliseconds to seconds; a batch up to minutes when cold.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    120.0)
#: Seconds from the survey's timestamp: replayed nights are hours to years old.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
#: Seconds to answer an API request.
API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def reason_kind(reason: str) -> str:
    """A rejection reason's bounded label: its text before the first ':' (the detail
    after it names offsets and values, which would make a series per packet)."""
    return reason.split(":", 1)[0].strip()[:80] or "unknown"
