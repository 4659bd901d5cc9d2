"""Decimal128 in filters: constants written as Extended JSON, conversions and mixed
arithmetic as MongoDB does them (a double becomes a 15-digit decimal in ``$add`` and
``$toDecimal``; decimal128 arithmetic keeps 34 digits), checked against the server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bson import Decimal128, Int64

from boom_flow.filters.mql import PipelineError, compile_pipeline, parse_pipeline
from tests.filters.mql.conftest import Parity, canonical
from tests.filters.mql.corpus import NUMBERS

DECIMALS = [{"_id": 1, "d": Decimal128("0.1"), "x": 0.2, "i": 7, "s": "1.25", "b": True},
            {"_id": 2, "d": Decimal128("-2.5E+10"), "x": 1e-7, "i": -3, "s": " 42 ",
             "b": False},
            {"_id": 3, "d": Decimal128("1234567890.123456789012345678901234"), "x": 2.5,
             "i": 2**40, "s": "1e3", "b": None}]


@pytest.mark.parametrize("expression", [
    {"$toDecimal": "$x"}, {"$toDecimal": "$i"}, {"$toDecimal": "$s"}, {"$toDecimal": "$b"},
    {"$add": ["$d", "$x"]}, {"$add": ["$d", "$i", 1]},
    {"$multiply": ["$d", "$x"]}, {"$multiply": ["$d", 3]}, {"$divide": ["$d", 4]},
    {"$sum": ["$d", "$x", "$i"]}, {"$avg": ["$d", "$i"]}, {"$gt": ["$d", "$x"]},
    {"$round": ["$d", 2]}, {"$abs": "$d"},
])
def test_decimal_arithmetic_matches_the_server(parity: Parity, expression: Any) -> None:
    parity.check(DECIMALS, [{"$project": {"r": expression}}])


def test_decimal_accumulators_match_the_server(parity: Parity) -> None:
    pipeline = [{"$group": {"_id": None, "s": {"$sum": "$d"}, "t": {"$sum": "$x"},
                            "a": {"$avg": "$d"}, "m": {"$max": "$d"}}}]
    stored = parity.store(DECIMALS)
    from boom_flow.filters.mql import compile_stages

    assert canonical(compile_stages(pipeline).run(stored)) == canonical(parity.server(pipeline))


def test_a_double_becomes_a_15_digit_decimal_except_in_sums() -> None:
    """MongoDB's documented ``$toDecimal: 2.5`` is ``NumberDecimal("2.50000000000000")``;
    ``$add``/``$subtract`` coerce a double the same way (``Decimal128(double)`` rounds to
    15 digits), while ``$sum``/``$avg`` convert their double total with 34 digits.
    SecantusDB 0.7 subtracts decimals with 28 digits (-0.1000000000000000111022302463
    here), and gives ``$avg`` of [0.1 decimal, 0.2 double] 0.15."""
    from boom_flow.filters.mql import compile_stages

    (out,) = compile_stages([{"$project": {
        "r": {"$toDecimal": 2.5}, "s": {"$add": [Decimal128("0.1"), 0.2]},
        "t": {"$subtract": [Decimal128("0.1"), 0.2]},
        "u": {"$avg": [Decimal128("0.1"), 0.2]}}}]).run([{"_id": 1}])
    assert out == {"_id": 1, "r": Decimal128("2.50000000000000"),
                   "s": Decimal128("0.300000000000000"),
                   "t": Decimal128("-0.100000000000000"),
                   "u": Decimal128("0.1500000000000000055511151231257827")}


def test_extended_json_constants_in_a_filter(parity: Parity) -> None:
    text = json.dumps([
        {"$match": {"x": {"$lt": {"$numberDecimal": "7.5"}}, "y": {"$gte": {
            "$numberLong": "1"}}}},
        {"$project": {"objectId": "$_id", "r": {"$add": ["$x", {"$numberDecimal": "0.5"}]}}}])
    stages = parse_pipeline(text)
    assert stages[0]["$match"]["x"] == {"$lt": Decimal128("7.5")}
    assert type(stages[0]["$match"]["y"]["$gte"]) is Int64
    stored = parity.store(NUMBERS)
    ours = compile_pipeline(text).run(stored)
    assert len(ours) > 3
    assert canonical(ours) == canonical(parity.server(stages))
    with pytest.raises(PipelineError, match=r"\$numberDecimal"):
        parse_pipeline([{"$match": {"x": {"$numberDecimal": "lots"}}},
                        {"$project": {"objectId": 1}}])
