"""Filter pipelines are refused at creation, with the operator and where it sits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from boom_flow.filters.mql import (
    PipelineError,
    compile_pipeline,
    parse_pipeline,
    validate_filter_pipeline,
)

MATCH: dict[str, Any] = {"$match": {"candidate.drb": {"$gt": 0.5}}}
FINAL: dict[str, Any] = {"$project": {"objectId": 1, "annotations.drb": "$candidate.drb"}}

REFUSED: list[tuple[Any, str | None, str]] = [
    # (pipeline, operator named, path named)
    ([MATCH, {"$project": {"objectId": 1, "x": {"$where": "1"}}}], "$where",
     "pipeline[1].$project.x.$where"),
    ([{"$match": {"$where": "this.a > 1"}}, FINAL], "$where", "pipeline[0].$match.$where"),
    ([MATCH, {"$lookup": {"from": "x", "as": "y"}}, FINAL], "$lookup", "pipeline[1].$lookup"),
    ([MATCH, FINAL, {"$out": "stolen"}], "$out", "pipeline[2].$out"),
    ([MATCH, {"$merge": {"into": "x"}}, FINAL], "$merge", "pipeline[1].$merge"),
    ([MATCH, {"$unionWith": "x"}, FINAL], "$unionWith", "pipeline[1].$unionWith"),
    ([MATCH, {"$graphLookup": {}}, FINAL], "$graphLookup", "pipeline[1].$graphLookup"),
    ([MATCH, {"$group": {"n": {"$sum": 1}}}, FINAL], "$group", "pipeline[1].$group"),
    ([MATCH, {"$group": {"_id": None, "n": {"$stdDevPop": 1}}}, FINAL], "$stdDevPop",
     "pipeline[1].$group.n.$stdDevPop"),
    ([MATCH, {"$limit": 0}, FINAL], "$limit", "pipeline[1].$limit"),
    ([MATCH, {"$unwind": "$prv_candidates"}, FINAL], "$unwind", "pipeline[1].$unwind"),
    ([MATCH, {"$project": {"objectId": 1, "f": {"$function": {"body": "x"}}}}], "$function",
     "pipeline[1].$project.f.$function"),
    ([MATCH, {"$project": {"objectId": 1, "f": {"$accumulator": {}}}}], "$accumulator",
     "pipeline[1].$project.f.$accumulator"),
    ([{"$match": {"$expr": {"$gt": [{"$abs": {"$noSuchOp": 1}}, 0]}}}, FINAL], "$noSuchOp",
     "pipeline[0].$match.$expr.$gt[0].$abs.$noSuchOp"),
    ([{"$match": {"a": {"$near": [0, 0]}}}, FINAL], "$near", "pipeline[0].$match.a.$near"),
    ([MATCH, {"$sort": {"a": 2}}, FINAL], "$sort", "pipeline[1].$sort.a"),
    ([MATCH], None, "pipeline[0]"),
    ([FINAL], None, "pipeline"),
    ([MATCH, {"$project": {"annotations": 1}}], "$project", "pipeline[1].$project"),
    ([MATCH, {"$project": {"objectId": 0}}], "$project", "pipeline[1].$project"),
    ([], None, "pipeline"),
    ([MATCH, {"$project": {"objectId": 1}, "$match": {}}], None, "pipeline[1]"),
    ([MATCH, {"$project": {"objectId": 1, "a": "$$nope"}}], None,
     "pipeline[1].$project.a"),
]


@pytest.mark.parametrize(("pipeline", "operator", "path"), REFUSED,
                         ids=[path + (f"/{op}" if op else "") for _, op, path in REFUSED])
def test_refused_with_operator_and_path(pipeline: Any, operator: str | None,
                                        path: str) -> None:
    with pytest.raises(PipelineError) as refused:
        compile_pipeline(json.dumps(pipeline))
    assert refused.value.operator == operator
    assert refused.value.path == path
    assert path in str(refused.value)


@pytest.mark.parametrize("source", ["", "[", "{}", '{"$match": {}}', "[1]", b"\xff\xfe",
                                    '[{"$match": {}}, 3]'])
def test_bad_json_or_shape_is_refused(source: str | bytes) -> None:
    with pytest.raises(PipelineError):
        parse_pipeline(source)


def test_the_real_filters_are_accepted(shared_data: Path) -> None:
    for name in ("fast.json", "cats150.pipeline.json", "lsst.json"):
        text = (shared_data / "filters" / name).read_text()
        validate_filter_pipeline(parse_pipeline(text))
        assert compile_pipeline(text).steps


def test_accepted_shapes() -> None:
    for pipeline in (
        [MATCH, FINAL],
        [MATCH, {"$set": {"x": 1}}, {"$unset": "x"}, {"$addFields": {"y": 2}}, FINAL],
        [MATCH, {"$project": {"cutouts": 0}}],  # exclusion keeps objectId
        [MATCH, {"$project": {"objectId": True, "_id": 0}}],
    ):
        assert len(compile_pipeline(pipeline).steps) == len(pipeline)


@pytest.mark.parametrize("pattern", [r"^(a+)+$", r"(ab|a)*", r"(a)\1"])
def test_a_pattern_that_backtracks_without_bound_is_refused(pattern: str) -> None:
    pipeline = [{"$match": {"objectId": {"$regex": pattern}}}, {"$project": {"objectId": 1}}]
    with pytest.raises(PipelineError) as refused:
        validate_filter_pipeline(pipeline)
    assert "unsafe regular expression" in str(refused.value)
    assert "pipeline[0].$match.objectId.$regex" in str(refused.value)


def test_a_bounded_pattern_is_accepted() -> None:
    validate_filter_pipeline([{"$match": {"objectId": {"$regex": "^ZTF2[0-9][a-z]{7}$"}}},
                              {"$project": {"objectId": 1}}])
