"""Aggregation expressions: parity with the real server, run-time errors per document."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.filters.mql.conftest import Parity
from tests.filters.mql.corpus import CORPUS, NUMBERS

ANY_VALUE: list[Any] = [
    # field paths, variables, literals; missing vs null
    "$a", "$nothing", {"$ifNull": ["$$ROOT.a", "none"]}, {"$ifNull": ["$$CURRENT.b", "none"]},
    {"$literal": "$a"}, ["$a", "$nothing"],
    {"x": "$a", "y": "$nothing"}, "$$REMOVE", {"$cond": [True, "$$REMOVE", 1]},
    {"$type": "$a"}, {"$type": "$nothing"}, {"$isNumber": "$a"}, {"$isArray": "$a"},
    # comparisons across types (canonical BSON order, missing < null)
    {"$eq": ["$a", None]}, {"$eq": ["$a", 1]}, {"$gt": ["$a", 1]}, {"$lt": ["$a", "$b"]},
    {"$cmp": ["$a", 2]}, {"$lte": ["$a", []]}, {"$gt": ["$a", {}]}, {"$lt": ["$a", "a"]},
    {"$ne": ["$a", "$nothing"]}, {"$gte": ["$a", True]}, {"$lt": ["$nothing", None]},
    {"$eq": ["$nothing", "$alsoNothing"]}, {"$gt": ["$a", float("nan")]},
    # conditionals and logic
    {"$ifNull": ["$a", "default"]}, {"$ifNull": ["$nothing", "$a"]},
    {"$ifNull": ["$nothing", "$a", "last"]}, {"$cond": [{"$gt": ["$a", 1]}, "big", "small"]},
    {"$cond": {"if": "$c", "then": 1, "else": 0}}, {"$and": ["$a", "$c"]},
    {"$or": ["$a", False]}, {"$not": ["$a"]}, {"$and": []}, {"$or": []},
    {"$switch": {"branches": [{"case": {"$eq": ["$a", 1]}, "then": "one"}],
                 "default": "other"}},
    {"$let": {"vars": {"v": "$a"}, "in": {"$isNumber": "$$v"}}},
    # arrays (errors on non-arrays are compared per document)
    {"$size": "$a"}, {"$arrayElemAt": ["$a", 0]}, {"$arrayElemAt": ["$a", -1]},
    {"$arrayElemAt": ["$a", 10]}, {"$first": {"$ifNull": ["$b", [0]]}}, {"$last": "$b"},
    {"$concatArrays": ["$a", [9]]}, {"$in": [1, "$a"]},
    {"$in": [{"$ifNull": ["$a", 0]}, [1, 2.5, None]]},
    {"$anyElementTrue": ["$a"]}, {"$allElementsTrue": ["$a"]}, {"$reverseArray": "$a"},
    {"$slice": ["$a", 2]}, {"$slice": ["$a", -2]}, {"$slice": ["$a", 1, 1]},
    {"$indexOfArray": ["$a", 2]}, {"$setUnion": ["$a", []]},
    {"$sortArray": {"input": "$b", "sortBy": {"k": 1}}},
    {"$map": {"input": "$a", "as": "x", "in": {"$type": "$$x"}}},
    {"$map": {"input": "$b", "in": "$$this.v"}},
    {"$filter": {"input": "$a", "cond": {"$gt": ["$$this", 1]}}},
    {"$filter": {"input": "$a", "as": "e", "cond": {"$ne": ["$$e", None]}, "limit": 1}},
    {"$reduce": {"input": "$a", "initialValue": 0, "in": {"$add": ["$$value", 1]}}},
    {"$reduce": {"input": "$a", "initialValue": [],
                 "in": {"$concatArrays": ["$$value", ["$$this"]]}}},
    {"$max": "$a"}, {"$min": "$a"}, {"$sum": "$a"}, {"$avg": "$a"}, {"$max": ["$a", 2]},
    {"$min": ["$a", None]}, {"$range": [0, {"$size": {"$ifNull": ["$b", []]}}]},
    # strings, objects, conversions
    {"$toString": "$a"}, {"$concat": ["$b", "-"]}, {"$toUpper": "$b"},
    {"$mergeObjects": [{"$cond": [{"$eq": [{"$type": "$a"}, "object"]}, "$a", None]},
                       {"z": 1}]}, {"$objectToArray": "$a"}, {"$getField": "a"},
    {"$toBool": "$a"}, {"$abs": "$a"}, {"$add": ["$a", 1]}, {"$toLower": "$b"},
    {"$strLenCP": {"$ifNull": ["$b", ""]}}, {"$split": ["$b", "B"]},
    {"$concat": ["$b", {"$toString": "$_id"}]}, {"$toLong": "$_id"}, {"$toInt": "$a"},
    {"$toDouble": "$a"},
    {"$arrayToObject": [[["k", "$a"], ["l", "$b"]]]},
    {"$getField": {"field": "b", "input": {"$cond": [
        {"$eq": [{"$type": "$a"}, "object"]}, "$a", {"b": "none"}]}}}, {"$multiply": ["$a", 2]},
    {"$subtract": ["$a", 1]}, {"$divide": ["$a", 2]}, {"$mod": ["$a", 2]},
    {"$floor": "$a"}, {"$round": ["$a", 1]}, {"$switch": {"branches": [
        {"case": {"$isArray": "$a"}, "then": {"$size": "$a"}}]}},
    {"$let": {"vars": {"a": 1, "b": {"$ifNull": ["$a", 0]}}, "in": {"$let": {"vars": {"a": "$$b"},
                                                             "in": ["$$a", "$$b"]}}}},
    {"$map": {"input": {"$ifNull": ["$b", []]}, "as": "o", "in": {"$map": {
        "input": [1, 2], "as": "i", "in": [{"$type": "$$o"}, "$$i"]}}}},
    {"$reduce": {"input": {"$range": [0, 4]}, "initialValue": {"n": 0},
                 "in": {"n": {"$add": ["$$value.n", "$$this"]}, "last": "$$this"}}},
    {"$filter": {"input": [1, "a", None, 2.5, [1]], "cond": {"$isNumber": "$$this"}}},
    {"$allElementsTrue": [[1, True, "x", []]]}, {"$anyElementTrue": [[0, False, None]]},
    {"$concatArrays": [[1], "$nothing"]}, {"$setIntersection": [[3, 1, 2, 1], [1, 3]]},
    {"$setDifference": [[3, 1, 2, 1], [2]]}, {"$setEquals": [[1, 2], [2, 1, 1]]},
    {"$setIsSubset": [[1], [2, 1]]}, {"$indexOfArray": [[1, 2, 3, 2], 2, 2]},
    {"$cmp": [{"$literal": [1, 2]}, {"$literal": [1, 2, 0]}]},
    {"$lt": [{"b": 1}, {"b": 1, "a": 0}]},
    {"$subtract": ["$a", {"$literal": dt.datetime(2024, 1, 1)}]},
    {"$subtract": ["$a", 1000]}, {"$gt": ["$a", {"$literal": dt.datetime(2023, 6, 1)}]},
]

ON_NUMBERS: list[Any] = [
    {"$add": ["$x", "$y"]}, {"$subtract": ["$x", "$y"]}, {"$multiply": ["$x", "$y"]},
    {"$divide": ["$x", "$y"]}, {"$mod": ["$x", "$y"]}, {"$abs": "$x"},
    {"$round": ["$x", 2]}, {"$round": ["$x", 0]}, {"$round": "$x"}, {"$round": ["$x", -1]},
    {"$round": ["$x", 4]}, {"$round": ["$x", 1]}, {"$trunc": ["$x", 1]}, {"$trunc": "$x"},
    {"$floor": "$x"}, {"$ceil": "$x"}, {"$sqrt": "$x"}, {"$ln": "$x"}, {"$log10": "$x"},
    {"$exp": "$y"}, {"$pow": [{"$min": ["$y", 10]}, 2]}, {"$pow": ["$x", 0.5]},
    {"$sortArray": {"input": ["$y", 3, -1], "sortBy": 1}},
    {"$sortArray": {"input": ["$y", 3, -1], "sortBy": -1}}, {"$toInt": "$x"}, {"$toDouble": "$x"},
    {"$toString": "$x"}, {"$type": {"$add": ["$x", 1]}}, {"$range": [0, "$y"]},
    {"$range": [0, 10, "$y"]}, {"$max": ["$x", "$y"]}, {"$min": ["$x", "$y"]},
    {"$sum": ["$x", "$y"]}, {"$avg": ["$x", "$y"]}, {"$add": ["$x", 2147483647]},
    {"$multiply": ["$x", 1000000000]}, {"$subtract": ["$x", 0.5]}, {"$add": []},
    {"$abs": {"$subtract": ["$x", "$y"]}}, {"$lt": [{"$abs": "$x"}, 7.0]},
    {"$gte": [{"$divide": [{"$subtract": ["$x", "$y"]}, "$y"]}, 0.2]},
    {"$log": ["$y", 2]}, {"$log": [100, "$y"]}, {"$toBool": "$x"}, {"$isNumber": "$x"},
    {"$cond": {"if": {"$gt": ["$x", "$y"]}, "then": "$x", "else": {"$ifNull": ["$x", -1]}}},
]


@pytest.mark.parametrize("expression", ANY_VALUE, ids=[repr(e) for e in ANY_VALUE])
def test_expression_on_any_value(parity: Parity, expression: Any) -> None:
    parity.check(CORPUS, [{"$project": {"r": expression}}])


@pytest.mark.parametrize("expression", ON_NUMBERS, ids=[repr(e) for e in ON_NUMBERS])
def test_arithmetic(parity: Parity, expression: Any) -> None:
    parity.check(NUMBERS, [{"$project": {"r": expression}}])
