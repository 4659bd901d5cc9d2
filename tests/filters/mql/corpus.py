"""A small corpus of documents that exercises BSON types, null/missing and arrays."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bson import Decimal128, Int64, ObjectId

OID = ObjectId("65a0c0ffee00000000000001")

CORPUS: list[dict[str, Any]] = [
    {"_id": 1, "a": 1, "b": "x", "c": True},
    {"_id": 2, "a": 2.5, "b": "y", "c": False},
    {"_id": 3, "a": None},
    {"_id": 4},
    {"_id": 5, "a": [1, 2, 3]},
    {"_id": 6, "a": []},
    {"_id": 7, "a": [None, 5]},
    {"_id": 8, "a": {"b": 1, "c": 2}},
    {"_id": 9, "a": [{"b": 1}, {"c": 2}]},
    {"_id": 10, "a": [{"b": [1, 2]}, {"b": 3}]},
    {"_id": 11, "a": "10"},
    {"_id": 12, "a": Int64(7)},
    {"_id": 13, "a": float("nan")},
    {"_id": 14, "a": True},
    {"_id": 15, "a": [[1, 2], 3]},
    {"_id": 16, "a": {"c": 2, "b": 1}},
    {"_id": 17, "a": dt.datetime(2024, 1, 1, 12, 30)},
    {"_id": 18, "a": OID},
    {"_id": 19, "a": [{"b": None}, {"b": 4}]},
    {"_id": 20, "a": -3, "b": ["x", "z"]},
    {"_id": 21, "a": 1.0},
    {"_id": 22, "a": 2**40},
    {"_id": 23, "a": [1, "x", None, {"b": 1}]},
    {"_id": 24, "a": {"b": {"c": [5, 6]}}},
    {"_id": 25, "a": [{"b": {"c": 5}}, {"b": {"c": 7}}]},
    {"_id": 26, "a": 0},
    {"_id": 27, "a": "abc", "b": "ABC"},
    {"_id": 28, "a": Decimal128("2.5")},
    {"_id": 29, "a": [2.5, "abc"]},
    {"_id": 30, "a": float("inf")},
    {"_id": 31, "a": -7.5, "b": 2},
    {"_id": 32, "a": [3, 1, 2], "b": [{"k": 2, "v": "two"}, {"k": 1, "v": "one"}]},
]

#: Numeric documents only, for arithmetic that would fail on other types.
NUMBERS: list[dict[str, Any]] = [
    {"_id": 1, "x": 7, "y": 2},
    {"_id": 2, "x": -7, "y": 2},
    {"_id": 3, "x": 7.5, "y": -2},
    {"_id": 4, "x": Int64(9), "y": 4},
    {"_id": 5, "x": 2**31 - 1, "y": 1},
    {"_id": 6, "x": 2.675, "y": 0.5},
    {"_id": 7, "x": None, "y": 3},
    {"_id": 8, "y": 3},
    {"_id": 9, "x": -2.5, "y": 1.5},
    {"_id": 10, "x": 1e300, "y": 1e300},
    {"_id": 11, "x": 0, "y": -1},
    {"_id": 12, "x": Decimal128("1.25"), "y": 2},
    {"_id": 13, "x": float("nan"), "y": 1},
    {"_id": 14, "x": 18.123456789, "y": 4},
    {"_id": 15, "x": -0.5, "y": 0.0},
]
