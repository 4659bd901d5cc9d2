"""Batch tables keep 64-bit ids exact, nulls as nulls, and the union of schema fields."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from boom_flow.core.batch import (
    AlertBatch,
    RawPacket,
    Rejection,
    records_from_table,
    table_from_records,
)


def test_tables_keep_int64_exact_and_nulls_null() -> None:
    big = 2**62 + 1
    frame = table_from_records([{"candid": big, "magpsf": None}, {"candid": None, "magpsf": 18.5}])
    assert records_from_table(frame) == [
        {"candid": big, "magpsf": None},
        {"candid": None, "magpsf": 18.5},
    ]


def test_columns_are_the_union_of_all_records_in_order() -> None:
    frame = table_from_records([{"a": 1}, {"b": "x", "a": 2}, {"c": True}])
    assert list(frame.columns) == ["a", "b", "c"]
    assert records_from_table(frame)[2] == {"a": None, "b": None, "c": True}


def test_mixed_types_across_schema_versions_are_widened() -> None:
    frame = table_from_records([{"v": 1}, {"v": 2.5}, {"v": None}])
    assert records_from_table(frame) == [{"v": 1.0}, {"v": 2.5}, {"v": None}]


def test_empty_input_gives_an_empty_table_with_the_asked_columns() -> None:
    assert len(table_from_records([])) == 0
    assert list(table_from_records([], columns=["jd"]).columns) == ["jd"]


def test_enrichments_must_align_with_the_batch() -> None:
    alerts = table_from_records([{"_id": 1}, {"_id": 2}])
    empty = table_from_records([])
    batch = AlertBatch("ZTF", alerts, alerts, empty, empty, empty, empty)
    enriched = batch.with_enrichment("classifications", pd.Series([{"acai_h": 0.1}, None]))
    assert "classifications" in enriched.enrichments and not batch.enrichments
    with pytest.raises(ValueError, match="has 1 rows, batch has 2"):
        batch.with_enrichment("x", pd.Series([1]))
    packet = RawPacket(b"\x00", "kafka:ztf", "0:17")
    rejected = batch.with_rejections([Rejection.of(packet, "bad")])
    assert rejected.rejected[0].position == "0:17" and rejected.rejected[0].data == b"\x00"


def test_a_view_is_made_once_per_batch_and_again_for_other_tables() -> None:
    alerts = table_from_records([{"_id": 1}, {"_id": 2}])
    empty = table_from_records([])
    batch = AlertBatch("ZTF", alerts, alerts, empty, empty, empty, empty)
    made: list[int] = []

    def ids(b: AlertBatch) -> list[int]:
        made.append(1)
        return b.alerts["_id"].tolist()

    assert batch.view("ids", ids) == [1, 2]
    enriched = batch.with_enrichment("x", pd.Series([1, 2])).with_counts(stored=2)
    assert enriched.view("ids", ids) == [1, 2] and len(made) == 1  # shared by the copies
    other = table_from_records([{"_id": 3}])
    changed = replace(enriched, alerts=other, candidates=other)
    assert changed.view("ids", ids) == [3] and len(made) == 2
    assert batch == replace(batch, views={})  # views are no part of what a batch is
