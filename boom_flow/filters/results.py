"""Result records: what leaves the broker for each alert that passed a filter.

Pure: from a batch that went through the filter stage to the Avro record of the
``{S}_alerts_results`` topic (schema ``results.avsc``, shipped in the package) and the
entries of the per-filter Valkey streams. Each Kafka message is a one-record Avro
container (the schema travels with it, as ZTF's own alerts do), so any consumer decodes
it with ``fastavro.reader`` and nothing else.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastavro

from boom_flow.core import CUTOUTS, AlertBatch
from boom_flow.filters.evaluate import RESULTS, annotations_json
from boom_flow.storage.documents import column_values


@cache
def results_schema() -> Any:
    """The parsed Avro schema of a result record."""
    text = resources.files("boom_flow.filters").joinpath("results.avsc").read_text()
    return fastavro.parse_schema(json.loads(text))


def results_topic(survey: str) -> str:
    return f"{survey.upper()}_alerts_results"


def stream_key(filter_id: str) -> str:
    """The capped Valkey stream of one filter's results."""
    return f"filter:{filter_id}:results"


@dataclass(frozen=True)
class ResultRecord:
    """One alert's result: the Avro record and the filters it names."""

    candid: int
    record: dict[str, Any]

    @property
    def filter_ids(self) -> list[str]:
        return [f["filter_id"] for f in self.record["filters"]]

    def only(self, filter_ids: set[str]) -> ResultRecord:
        """The record naming only ``filter_ids`` (those not published yet)."""
        kept = [f for f in self.record["filters"] if f["filter_id"] in filter_ids]
        return ResultRecord(self.candid, {**self.record, "filters": kept})


def result_records(batch: AlertBatch) -> list[ResultRecord]:
    """One record per alert of ``batch`` that passed at least one filter."""
    if RESULTS not in batch.enrichments:
        return []
    results = batch.enrichments[RESULTS].tolist()
    passed = [i for i, value in enumerate(results) if value]
    if not passed:
        return []
    ids = column_values(batch.alerts, "_id")
    object_ids = column_values(batch.alerts, "objectId")
    candidates = {name: column_values(batch.candidates, name) for name in ("jd", "ra", "dec")}
    classifications = (batch.enrichments["classifications"].tolist()
                       if "classifications" in batch.enrichments else [None] * len(batch))
    stamps = _stamps(batch)
    survey = batch.survey.upper()
    records = []
    for row in passed:
        result = results[row]
        record = {
            "candid": int(ids[row]), "objectId": object_ids[row],
            **{name: _float(values[row]) for name, values in candidates.items()},
            "survey": survey,
            "filters": [{"filter_id": p["filter_id"], "filter_name": p["filter_name"],
                         "passed_at": int(p["passed_at"]),
                         "annotations": annotations_json(p["annotations"])}
                        for p in result["filters"]],
            "classifications": _classifications(classifications[row]),
            "photometry": list(result["photometry"]),
            **stamps.get(ids[row], dict.fromkeys(CUTOUTS)),
        }
        records.append(ResultRecord(int(ids[row]), record))
    return records


def encode(record: Mapping[str, Any]) -> bytes:
    """One record as an Avro object container (schema included)."""
    buffer = io.BytesIO()
    fastavro.writer(buffer, results_schema(), [record], codec="null")
    return buffer.getvalue()


def decode(data: bytes) -> list[dict[str, Any]]:
    return list(fastavro.reader(io.BytesIO(data)))


def stream_entries(record: Mapping[str, Any]) -> list[str]:
    """The record's filter stream entries, one per filter it names: the alert's
    coordinates and the filter's annotations (no cutouts or light curve: the API
    serves those from the archive).

    An alert passes several filters; its part of the entry is encoded once and each
    filter's part (its annotations are JSON already) is set in between."""
    alert = _json({name: record[name] for name in ("candid", "objectId", "jd", "ra", "dec",
                                                   "survey")})
    scores = _json({c["classifier"]: c["score"] for c in record["classifications"]})
    return [f'{alert[:-1]},"filter_id":{_json(p["filter_id"])},'
            f'"filter_name":{_json(p["filter_name"])},"passed_at":{_json(p["passed_at"])},'
            f'"annotations":{p["annotations"]},"classifications":{scores}}}'
            for p in record["filters"]]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _classifications(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, Mapping):
        return []
    return [{"classifier": str(name), "score": float(score)} for name, score in value.items()
            if isinstance(score, int | float) and math.isfinite(score)]


def _stamps(batch: AlertBatch) -> dict[Any, dict[str, bytes | None]]:
    cutouts = batch.cutouts
    if not len(cutouts) or "_id" not in cutouts.columns:
        return {}
    columns = {name: column_values(cutouts, name) for name in CUTOUTS}
    stamps: dict[Any, dict[str, bytes | None]] = {}
    for i, alert_id in enumerate(column_values(cutouts, "_id")):
        stamps.setdefault(alert_id, {name: _bytes(columns[name][i]) for name in CUTOUTS})
    return stamps


def _bytes(value: Any) -> bytes | None:
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None


def _filter_passes(batch: AlertBatch) -> Iterator[dict[str, Any]]:
    """Every (alert, filter) pass of ``batch``: the filter stage's entries."""
    results = batch.enrichments.get(RESULTS)
    if results is None:
        return
    for entry in results.dropna():
        yield from entry["filters"]


def passes_by_filter(batch: AlertBatch) -> dict[str, int]:
    """How many alerts of ``batch`` passed each filter (by filter id); empty when the
    filter stage did not run."""
    counts: dict[str, int] = {}
    for passed in _filter_passes(batch):
        counts[passed["filter_id"]] = counts.get(passed["filter_id"], 0) + 1
    return counts


def filter_names(batch: AlertBatch) -> dict[str, str]:
    """The names of the filters ``batch``'s alerts passed, by filter id."""
    return {passed["filter_id"]: passed["filter_name"] for passed in _filter_passes(batch)}
