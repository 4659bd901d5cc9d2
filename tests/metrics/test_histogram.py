"""BulkHistogram bins an array exactly as prometheus_client's Histogram bins values one
at a time."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from boom_flow.metrics import BulkHistogram
from tests.metrics.scrape import parse

BUCKETS = (0.5, 1.0, 2.0, 5.0)


def test_same_buckets_sum_and_count_as_observing_one_by_one() -> None:
    values = np.array([0.1, 0.5, 0.7, 1.0, 1.5, 2.0, 4.9, 5.0, 7.0, 1000.0])
    bulk_registry, reference_registry = CollectorRegistry(), CollectorRegistry()
    bulk = BulkHistogram("latency_seconds", "doc", ("survey",), BUCKETS)
    bulk_registry.register(bulk)
    bulk.observe_many(values[:4], survey="ztf")
    bulk.observe_many(values[4:], survey="ztf")
    reference = Histogram("latency_seconds", "doc", ("survey",), buckets=BUCKETS,
                          registry=reference_registry)
    for v in values:
        reference.labels(survey="ztf").observe(v)
    ours = parse(generate_latest(bulk_registry).decode())
    theirs = parse(generate_latest(reference_registry).decode())
    theirs = {k: v for k, v in theirs.items() if not k[0].endswith("_created")}
    key = ("latency_seconds_sum", frozenset({("survey", "ztf")}))
    assert ours.pop(key) == pytest.approx(theirs.pop(key))
    assert ours == theirs
    assert ours[("latency_seconds_count", frozenset({("survey", "ztf")}))] == 10


def test_an_empty_array_makes_no_series() -> None:
    registry = CollectorRegistry()
    bulk = BulkHistogram("x_seconds", "doc", ("survey",), BUCKETS)
    registry.register(bulk)
    bulk.observe_many([], survey="ztf")
    assert "x_seconds_count" not in generate_latest(registry).decode()
