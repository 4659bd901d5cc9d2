"""A run-time error on one document is that document's ``EvaluationError``; the others
are still evaluated (MongoDB would fail the whole aggregate)."""

from __future__ import annotations

import pickle

import pytest

from boom_flow.filters.mql import EvaluationError, PipelineError, compile_stages

PIPELINE = [{"$project": {"n": {"$size": "$a"}, "q": {"$divide": [1, "$b"]}}}]
DOCS = [{"_id": 1, "a": [1, 2], "b": 2}, {"_id": 2, "a": "x", "b": 1},
        {"_id": 3, "a": [], "b": 0}, {"_id": 4, "a": [3], "b": 4}]


def test_run_each_reports_the_failing_documents_and_goes_on() -> None:
    outcomes = compile_stages(PIPELINE).run_each(DOCS)
    assert outcomes[0] == {"_id": 1, "n": 2, "q": 0.5}
    assert outcomes[3] == {"_id": 4, "n": 1, "q": 0.25}
    assert isinstance(outcomes[1], EvaluationError) and outcomes[1].operator == "$size"
    assert isinstance(outcomes[2], EvaluationError) and outcomes[2].operator == "$divide"
    assert [outcomes[1].index, outcomes[2].index] == [1, 2]


def test_run_collects_errors_or_raises_the_first() -> None:
    errors: list[EvaluationError] = []
    out = compile_stages(PIPELINE).run(DOCS, errors=errors)
    assert [doc["_id"] for doc in out] == [1, 4]
    assert [error.index for error in errors] == [1, 2]
    with pytest.raises(EvaluationError, match=r"\$size"):
        compile_stages(PIPELINE).run(DOCS)


def test_a_match_before_the_failing_stage_spares_the_document() -> None:
    pipeline = [{"$match": {"a": {"$type": "array"}}}, *PIPELINE]
    errors: list[EvaluationError] = []
    out = compile_stages(pipeline).run(DOCS, errors=errors)
    assert [doc["_id"] for doc in out] == [1, 4]
    assert [error.index for error in errors] == [2]


def test_inputs_are_never_modified() -> None:
    doc = {"_id": 1, "a": {"b": [{"c": 1}]}, "x": 5}
    before = repr(doc)
    pipeline = [{"$set": {"a.b.d": 2, "a.e": 3}}, {"$unset": "x"},
                {"$project": {"a.b.c": 0}}]
    out = compile_stages(pipeline).run([doc])
    assert repr(doc) == before
    assert out == [{"_id": 1, "a": {"b": [{"d": 2}], "e": 3}}]


def test_a_compiled_pipeline_pickles_as_its_pipeline() -> None:
    compiled = compile_stages(PIPELINE)
    again = pickle.loads(pickle.dumps(compiled))
    assert again.pipeline == compiled.pipeline
    assert [str(o) for o in again.run_each(DOCS)] == [str(o) for o in compiled.run_each(DOCS)]


def test_a_very_deep_expression_still_evaluates() -> None:
    """Deeper than Python's parser allows generated code to be (BSON itself stops at 100
    levels): closures take over; absurd depths are refused, not crashed on."""
    expression: dict = {"$abs": "$x"}
    for _ in range(95):
        expression = {"$abs": expression}
    out = compile_stages([{"$project": {"r": expression}}]).run([{"_id": 1, "x": -2.5}])
    assert out == [{"_id": 1, "r": 2.5}]
    for _ in range(2000):
        expression = {"$abs": expression}
    with pytest.raises(PipelineError, match="deep"):
        compile_stages([{"$project": {"r": expression}}])
