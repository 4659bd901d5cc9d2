"""Cases where the test server (SecantusDB 0.7) disagrees with MongoDB's documented
semantics: we test these against MongoDB's behaviour, written out by hand.

Each case says what SecantusDB returned when this file was written, so that nobody
"fixes" the evaluator to follow the server. MongoDB references: the aggregation field
path rules ("$a.b" through an array of documents yields the array of values), the
``$project`` reference (nested-document form, non-zero numbers as inclusion, path
collisions, exclusion of fields in embedded documents in arrays), ``$sortArray`` (BSON
comparison order across types), ``$first``/``$last`` (an empty array yields no value),
``$mergeObjects`` (non-document operands are an error), and the expression comparison
order (missing sorts before null, so missing is not ``$in`` ``[null]``).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from boom_flow.filters.mql import EvaluationError, PipelineError, compile_stages

CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]] = [
    # (why, documents, pipeline, MongoDB's output)
    ("field path through arrays maps over documents; SecantusDB: missing",
     [{"_id": 1, "a": [{"b": 1}, {"c": 2}, {"b": [3]}]}, {"_id": 2, "a": [1, 2]},
      {"_id": 3, "a": [[{"b": 1}]]}],
     [{"$project": {"r": "$a.b"}}],
     [{"_id": 1, "r": [1, [3]]}, {"_id": 2, "r": []}, {"_id": 3, "r": [[1]]}]),
    ("a variable path to an absent field is missing; SecantusDB: null",
     [{"_id": 1}], [{"$project": {"r": "$$ROOT.x", "s": "$$CURRENT.x"}}], [{"_id": 1}]),
    ("a $let variable bound to missing is missing; SecantusDB: 'object'",
     [{"_id": 1}], [{"$project": {"r": {"$let": {"vars": {"v": "$x"},
                                                  "in": {"$type": "$$v"}}}}}],
     [{"_id": 1, "r": "missing"}]),
    ("$first/$last of an empty array give no value; SecantusDB: null",
     [{"_id": 1, "a": []}], [{"$project": {"f": {"$first": "$a"}, "l": {"$last": "$a"}}}],
     [{"_id": 1}]),
    ("missing is not null in expressions; SecantusDB: $in finds missing in [null]",
     [{"_id": 1}], [{"$project": {"r": {"$in": ["$x", [None]]}}}], [{"_id": 1, "r": False}]),
    ("$sortArray orders mixed types by BSON order; SecantusDB: internal error",
     [{"_id": 1, "a": [None, 5, "a", {"b": 1}, 2.5, True]}],
     [{"$project": {"r": {"$sortArray": {"input": "$a", "sortBy": 1}}}}],
     [{"_id": 1, "r": [None, 2.5, 5, "a", {"b": 1}, True]}]),
    ("nested-document projection is an inclusion of the sub-fields; SecantusDB: a literal",
     [{"_id": 1, "c": {"jd": 2.5, "m": 18.0, "x": 1}}],
     [{"$project": {"c": {"jd": 1, "m": 1}}}], [{"_id": 1, "c": {"jd": 2.5, "m": 18.0}}]),
    ("a non-zero number includes the field; SecantusDB: the literal 5",
     [{"_id": 1, "n": "kept", "o": 1}], [{"$project": {"n": 5, "absent": 5}}],
     [{"_id": 1, "n": "kept"}]),
    ("exclusion reaches into documents inside arrays; SecantusDB: array left whole",
     [{"_id": 1, "a": [{"b": 1, "c": 2}, 3, [{"b": 4}]]}], [{"$project": {"a.b": 0}}],
     [{"_id": 1, "a": [{"c": 2}, 3, [{}]]}]),
    ("$unset reaches into documents inside arrays; SecantusDB: array left whole",
     [{"_id": 1, "a": [{"b": 1, "c": 2}]}], [{"$unset": "a.b"}], [{"_id": 1, "a": [{"c": 2}]}]),
    ("$addFields on a dotted path replaces a scalar parent and maps over an array; "
     "SecantusDB: leaves them unchanged",
     [{"_id": 2, "a": 5}, {"_id": 3, "a": [{"c": 1}, 2]}], [{"$addFields": {"a.b": 1}}],
     [{"_id": 2, "a": {"b": 1}}, {"_id": 3, "a": [{"c": 1, "b": 1}, {"b": 1}]}]),
    ("a computed sub-field that is missing leaves its parent as {}; SecantusDB: no parent",
     [{"_id": 1}], [{"$project": {"r.x": "$nothing"}}], [{"_id": 1, "r": {}}]),
    ("objects compare field by field in stored order; SecantusDB: internal error",
     [{"_id": 1}], [{"$project": {"r": {"$eq": [{"b": 1, "c": 2}, {"c": 2, "b": 1}]}}}],
     [{"_id": 1, "r": False}]),
    ("$getField of a missing input is null; SecantusDB: missing",
     [{"_id": 1}], [{"$project": {"r": {"$getField": {"field": "b", "input": "$x"}}}}],
     [{"_id": 1, "r": None}]),
    ("$pow overflows to infinity; SecantusDB: internal error",
     [{"_id": 1, "x": 1e300}], [{"$project": {"r": {"$pow": ["$x", 2]}}}],
     [{"_id": 1, "r": math.inf}]),
]


@pytest.mark.parametrize(("why", "docs", "pipeline", "expected"), CASES,
                         ids=[case[0].split(";")[0] for case in CASES])
def test_documented_behaviour(why: str, docs: list[dict[str, Any]],
                              pipeline: list[dict[str, Any]],
                              expected: list[dict[str, Any]]) -> None:
    out = compile_stages(pipeline).run(docs)
    assert out == expected
    # bool/int/float are told apart (Python's == would not)
    assert [repr(doc) for doc in out] == [repr(doc) for doc in expected]


def test_merge_objects_refuses_an_array() -> None:
    """``$mergeObjects`` of an array is a run-time error (SecantusDB merges its elements)."""
    (outcome,) = compile_stages([{"$project": {"r": {"$mergeObjects": ["$a", {"z": 1}]}}}]
                                ).run_each([{"_id": 1, "a": [{"b": 1}]}])
    assert isinstance(outcome, EvaluationError)
    assert outcome.operator == "$mergeObjects"


@pytest.mark.parametrize("expression", [
    {"$getField": {"field": "b", "input": "$a"}},  # SecantusDB: null
    {"$arrayToObject": [[[2, "two"]]]},  # a non-string key; SecantusDB: {"2": "two"}
])
def test_run_time_errors_where_mongodb_raises(expression: Any) -> None:
    (outcome,) = compile_stages([{"$project": {"r": expression}}]).run_each([{"_id": 1, "a": 5}])
    assert isinstance(outcome, EvaluationError)


def test_path_collision_is_refused() -> None:
    """``{a: 1, "a.b": 1}`` is a path collision (SecantusDB accepts it)."""
    with pytest.raises(PipelineError, match="collision"):
        compile_stages([{"$project": {"a": 1, "a.b": 1}}])
