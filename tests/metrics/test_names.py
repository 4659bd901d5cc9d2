"""One vocabulary: the metrics the code exposes are those ``names`` declares, with their
labels; ``docs/cluster.md`` lists each one; the Grafana dashboard uses only them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from boom_flow.metrics import PipelineMetrics, names
from boom_flow.metrics.api import ApiMetrics
from boom_flow.pipeline.worker import BatchOutcome

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = ("_bucket", "_sum", "_count", "_created", "_total")


def _exposed(registry: object) -> dict[str, set[str]]:
    exposed: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            # ``*_created`` (when a series began) is prometheus_client's own addition.
            if sample.name.startswith(names.PREFIX) and not family.name.endswith("_created"):
                exposed.setdefault(family.name, set()).update(sample.labels)
    return exposed


def test_the_exposed_metrics_are_the_declared_ones() -> None:
    pipeline = PipelineMetrics("ztf")
    pipeline.observe(BatchOutcome(packets=2, stored=1, rejected=1, seconds={"decode": 0.1},
                                  timestamps_ms=[1], rejected_reasons={"bad": 1},
                                  filter_passes={"f": 1}))
    pipeline.lag("t", 0, 3)
    pipeline.assigned([("t", 0)])
    pipeline.polled()
    api = ApiMetrics()
    api.record("GET", "/", 200, 0.01)
    exposed = {**_exposed(pipeline.registry), **_exposed(api.registry)}
    declared = {m.name.removesuffix("_total"): m for m in names.ALL_METRICS}
    assert set(exposed) == set(declared)
    for name, labels in exposed.items():
        assert labels - {"le"} == set(declared[name].labels), name


def test_the_docs_list_every_metric_with_its_labels() -> None:
    doc = (ROOT / "docs" / "cluster.md").read_text()
    for metric in names.ALL_METRICS:
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{metric.name}`")),
                   None)
        assert row is not None, metric.name
        assert all(f"`{label}`" in row for label in metric.labels), row


def test_the_dashboard_uses_only_declared_metrics_and_labels() -> None:
    dashboard = json.loads((ROOT / "helm" / "boom-flow" / "dashboards" / "boom-flow.json")
                           .read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    declared = {m.name.removesuffix("_total"): m for m in names.ALL_METRICS}
    used = set()
    for expr in exprs:
        for metric in re.findall(r"\b(boom_flow_[a-z_]+)", expr):
            base = metric
            for suffix in SUFFIXES:
                base = base.removesuffix(suffix)
            assert base in declared, f"{metric} in {expr}"
            used.add(base)
            for group in re.findall(r"by \(([^)]*)\)", expr):
                labels = {label.strip() for label in group.split(",")} - {"le", "pod"}
                assert labels <= set(declared[base].labels), f"{labels} in {expr}"
    # Every counter of alerts, the latencies, lag, filter passes and the API appear.
    for metric in (names.ALERTS_CONSUMED, names.ALERTS_STORED, names.ALERTS_REJECTED,
                   names.STAGE_SECONDS, names.ALERT_LATENCY, names.BATCH_SECONDS,
                   names.KAFKA_LAG, names.FILTER_PASSES, names.API_REQUESTS, names.API_LATENCY):
        assert metric.name.removesuffix("_total") in used, metric.name
