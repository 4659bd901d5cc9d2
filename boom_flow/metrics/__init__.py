"""Prometheus metrics of the ingest process and the API (prometheus_client).

Every metric name and label is declared in ``names``: the dashboard, the chart's
monitors and ``docs/cluster.md`` use exactly these.
"""

from boom_flow.metrics.histogram import BulkHistogram
from boom_flow.metrics.pipeline import PipelineMetrics
from boom_flow.metrics.server import MetricsServer

__all__ = ["BulkHistogram", "MetricsServer", "PipelineMetrics"]
