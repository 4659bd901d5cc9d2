"""Explain, stage by stage, on the real filters (cats150, fast.json) and the real ZTF
alerts: the counts equal the server's own answer for each prefix of the pipeline, the
alerts that pass are the backtest's, and a dropped alert's false condition shows the
values stored for it."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from boom_flow.filters.backtest import (
    explain_on_archive,
    explain_on_files,
    test_filter_on_archive,
)
from tests.filters.helpers import real_pipeline, server_results

ALL = {"ZTF": [1, 2, 3]}
_ORDER = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


@pytest.mark.parametrize("name", ["fast.json", "cats150.pipeline.json"])
def test_explain_counts_each_stage_as_the_server_does(ztf_archive: Database, shared_data: Path,
                                                      name: str) -> None:
    pipeline = real_pipeline(shared_data, name)
    ids = [d["_id"] for d in ztf_archive.ZTF_alerts.find({}, {"_id": 1})]
    report = explain_on_archive(ztf_archive, survey="ZTF", pipeline=pipeline,
                                permissions=ALL, start_jd=0, end_jd=3e6, trace=ids)
    assert report["alerts"] == len(ids)
    entering = len(ids)
    for stage in report["stages"]:
        assert stage["in"] == entering and stage["errors"] == 0
        if stage["name"] == "$match":  # the server's count for the pipeline up to here
            prefix = pipeline[:stage["stage"] + 1]
            assert stage["out"] == len(server_results(ztf_archive, "ZTF", prefix, (1, 2, 3)))
        else:  # a $project keeps every document
            assert stage["out"] == stage["in"]
        entering = stage["out"]
    assert report["stages"][0]["out"] < len(ids)  # the first $match drops most

    passing = {o["_id"] for o in test_filter_on_archive(
        ztf_archive, survey="ZTF", pipeline=pipeline, permissions=ALL, start_jd=0,
        end_jd=3e6)}
    traced = report["candids"]
    assert {int(k) for k, t in traced.items() if t["passed"]} == passing
    assert report["passed"] == len(passing) > 0
    dropped = {int(k): t for k, t in traced.items() if not t["passed"]}
    assert len(dropped) == len(ids) - len(passing)
    for candid, trace in dropped.items():
        assert pipeline[trace["dropped_at"]].keys() == {"$match"}
        assert trace["condition"]["path"].startswith(f"pipeline[{trace['dropped_at']}].$match")
        if trace["dropped_at"] == 0:
            _check_against_the_stored_alert(ztf_archive, candid, trace["condition"])


def _check_against_the_stored_alert(db: Database, candid: int, condition: dict[str, Any]
                                    ) -> None:
    """The values shown are the stored ones, and the condition shown is false for them."""
    stored = db.ZTF_alerts.find_one({"_id": candid})
    for path, value in condition["values"].items():
        section, field = path.split(".")
        assert stored[section][field] == value
    (key, test), = condition["spec"].items()
    if key.startswith("candidate.") and isinstance(test, dict) and len(test) == 1:
        (op, bound), = test.items()
        if op in _ORDER:
            value = stored["candidate"].get(key.split(".")[1])
            assert value is None or not _ORDER[op](value, bound)
    (op, _), = condition["spec"].items()
    if "operands" in condition and op in _ORDER:  # an $expr comparison, false as shown
        left, right = condition["operands"]
        assert not _ORDER[op](left, right)


def test_explain_over_files_traces_a_dropped_alert(shared_data: Path) -> None:
    pipeline = real_pipeline(shared_data, "fast.json")
    low_drb, absent = 1154308030015010004, 42
    report = explain_on_files(shared_data / "ztf", survey="ztf", pipeline=pipeline,
                              permissions=ALL, trace=[low_drb, absent], batch_size=40)
    assert report["stages"][0]["in"] == report["alerts"] > 100
    trace = report["candids"][str(low_drb)]
    assert trace == {"passed": False, "dropped_at": 0, "stage": "$match", "condition": {
        "path": "pipeline[0].$match.candidate.drb", "spec": {"candidate.drb": {"$gt": 0.9}},
        "values": {"candidate.drb": pytest.approx(0.013035479933023453)}, "missing": []}}
    assert report["candids"][str(absent)]["evaluated"] is False
