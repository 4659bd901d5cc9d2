"""Guard rails as functions: forbidden operators, the stage allow-list, caps."""

from __future__ import annotations

import pytest

from boom_flow.api.errors import ApiError
from boom_flow.api.guards import (
    SizeBudget,
    budget_ms,
    check_limit,
    is_protected,
    refuse_forbidden,
    validate_pipeline,
)


def status_of(call: object, *args: object) -> int:
    with pytest.raises(ApiError) as raised:
        call(*args)  # type: ignore[operator]
    return raised.value.status


@pytest.mark.parametrize("operator", ["$out", "$merge", "$where", "$function", "$accumulator"])
def test_forbidden_operators_are_found_at_any_depth(operator: str) -> None:
    body = {"filter": {"$and": [{"a": 1}, {"$or": [{"b": {operator: "x"}}]}]}}
    with pytest.raises(ApiError) as raised:
        refuse_forbidden(body)
    assert raised.value.status == 403
    assert raised.value.message == (f"operator {operator} is not allowed "
                                    f"(at body.filter.$and[1].$or[0].b.{operator})")
    refuse_forbidden({"filter": {"note": operator, "list": [operator]}})  # values are data


def test_stage_allow_list_and_nested_pipelines() -> None:
    validate_pipeline([{"$match": {}}, {"$facet": {"a": [{"$lookup": {
        "from": "GCVS", "pipeline": [{"$unionWith": {"coll": "PS1", "pipeline": []}}],
        "as": "x"}}]}}])
    assert status_of(validate_pipeline, [{"$currentOp": {}}]) == 403
    assert status_of(validate_pipeline, [{"$facet": {"a": [{"$indexStats": {}}]}}]) == 403
    assert status_of(validate_pipeline, [{"$match": {}, "$limit": 1}]) == 400
    assert status_of(validate_pipeline, {"$match": {}}) == 400
    assert status_of(validate_pipeline, [{"$lookup": {"from": {"db": "admin", "coll": "x"},
                                                      "as": "y"}}]) == 400
    assert status_of(validate_pipeline, [{"$lookup": {"from": "x", "as": "y", "pipeline": [
        {"$unionWith": "users"}]}}]) == 404


def test_protected_names() -> None:
    assert all(map(is_protected, ["users", "filters", "system.profile", "", "a b", "$cmd"]))
    assert not any(map(is_protected, ["ZTF_alerts", "GCVS", "LSST_alerts_aux", "ps1.dr2"]))


def test_caps() -> None:
    assert check_limit(None, 100) == 100
    assert check_limit(0, 100) == 100
    assert check_limit(7, 100) == 7
    assert status_of(check_limit, 101, 100) == 413
    assert budget_ms(None, 30_000, 60_000) == 30_000
    assert budget_ms(5, 30_000, 60_000) == 5
    assert status_of(budget_ms, 60_001, 30_000, 60_000) == 400
    size = SizeBudget(20)
    assert size.encode({"a": 1}) == b'{"a":1}'
    assert status_of(size.encode, {"b": "x" * 20}) == 413


@pytest.mark.parametrize("body", [
    {"filter": {"objectId": {"$regex": "^(a+)+$"}}},
    {"pipeline": [{"$limit": 1}, {"$project": {"m": {"$regexMatch": {
        "input": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", "regex": "^(a+)+$"}}}}]},
])
def test_catastrophic_regular_expressions_are_refused_in_every_body(body: dict) -> None:
    with pytest.raises(ApiError) as raised:
        refuse_forbidden(body)
    assert raised.value.status == 400
    assert "unsafe regular expression" in raised.value.message
    refuse_forbidden({"filter": {"objectId": {"$regex": "^ZTF18"}}})
