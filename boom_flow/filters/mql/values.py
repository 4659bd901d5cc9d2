"""BSON values in Python: their types, MongoDB's canonical order, equality, truthiness.

Documents are what pymongo decodes: ``int`` (int32, or int64 when it does not fit),
``bson.Int64`` (int64), ``float``, ``bson.Decimal128``, ``str``, ``dict``, ``list``,
``bytes``/``bson.Binary``, ``ObjectId``, ``bool``, ``datetime``, ``Timestamp``,
``re.Pattern``/``bson.Regex``, ``MinKey``/``MaxKey``, ``None``. A field that is absent
is ``MISSING`` (MongoDB's "missing", distinct from null in aggregation expressions).

Python's ``bool`` is an ``int`` and ``True == 1``: every test here dispatches on the
exact type first, so that ``true`` never equals ``1`` as it never does in MongoDB.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from decimal import Decimal
from typing import Any

from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp


class _Missing:
    """The absent value: sorts before null, never stored, dropped from built documents."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

# Canonical type ranks (MongoDB's comparison order across types).
MINKEY, UNDEFINED, NULL, NUMBER, STRING, OBJECT, ARRAY = -1, 0, 5, 10, 15, 20, 25
BINDATA, OBJECTID, BOOL, DATE, TIMESTAMP, REGEX, CODE, MAXKEY = 30, 35, 40, 45, 47, 50, 60, 127

_RANKS: dict[type, int] = {
    type(None): NULL, _Missing: UNDEFINED, bool: BOOL, int: NUMBER, Int64: NUMBER,
    float: NUMBER, Decimal128: NUMBER, str: STRING, dict: OBJECT, list: ARRAY, tuple: ARRAY,
    bytes: BINDATA, Binary: BINDATA, ObjectId: OBJECTID, _dt.datetime: DATE,
    Timestamp: TIMESTAMP, re.Pattern: REGEX, Regex: REGEX, Code: CODE,
    MinKey: MINKEY, MaxKey: MAXKEY,
}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def rank(value: Any) -> int:
    """The canonical type rank of ``value``."""
    found = _RANKS.get(type(value))
    if found is not None:
        return found
    for kind, kind_rank in _RANKS.items():
        if isinstance(value, kind):
            return kind_rank
    raise TypeError(f"not a BSON value: {type(value).__name__}")


def is_number(value: Any) -> bool:
    kind = type(value)
    return kind is float or kind is int or kind is Int64 or kind is Decimal128


def is_array(value: Any) -> bool:
    return type(value) is list or type(value) is tuple


def type_name(value: Any) -> str:
    """The name ``$type`` gives (``"double"``, ``"int"``, ``"long"``, ``"missing"``...)."""
    kind = type(value)
    if kind is int:
        return "int" if INT32_MIN <= value <= INT32_MAX else "long"
    named = _TYPE_NAMES.get(kind)
    if named is not None:
        return named
    for base, name in _TYPE_NAMES.items():
        if isinstance(value, base):
            return name
    raise TypeError(f"not a BSON value: {kind.__name__}")


_TYPE_NAMES: dict[type, str] = {
    _Missing: "missing", type(None): "null", bool: "bool", Int64: "long", float: "double",
    Decimal128: "decimal", str: "string", dict: "object", list: "array", tuple: "array",
    bytes: "binData", Binary: "binData", ObjectId: "objectId", _dt.datetime: "date",
    Timestamp: "timestamp", re.Pattern: "regex", Regex: "regex", Code: "javascript",
    MinKey: "minKey", MaxKey: "maxKey",
}
#: ``$type`` aliases and their BSON type numbers.
TYPE_NUMBERS: dict[str, int] = {
    "double": 1, "string": 2, "object": 3, "array": 4, "binData": 5, "undefined": 6,
    "objectId": 7, "bool": 8, "date": 9, "null": 10, "regex": 11, "dbPointer": 12,
    "javascript": 13, "symbol": 14, "javascriptWithScope": 15, "int": 16, "timestamp": 17,
    "long": 18, "decimal": 19, "minKey": -1, "maxKey": 127,
}
TYPE_ALIASES = {number: name for name, number in TYPE_NUMBERS.items()}


def as_decimal(value: Any) -> Decimal | float | int:
    """A number as a Python value that compares exactly with the others."""
    if type(value) is Decimal128:
        return value.to_decimal()
    return value


def _is_nan(value: Any) -> bool:
    if type(value) is float:
        return value != value
    if type(value) is Decimal128:
        return value.to_decimal().is_nan()
    return False


def compare_numbers(left: Any, right: Any) -> int:
    """Numeric order across int/long/double/decimal; NaN is below every number."""
    left_nan, right_nan = _is_nan(left), _is_nan(right)
    if left_nan or right_nan:
        return 0 if left_nan and right_nan else (-1 if left_nan else 1)
    a, b = as_decimal(left), as_decimal(right)
    return -1 if a < b else (1 if a > b else 0)


def compare(left: Any, right: Any) -> int:
    """MongoDB's total order of values (``$sort``, ``$lt`` in expressions): -1, 0 or 1."""
    left_rank, right_rank = rank(left), rank(right)
    if left_rank != right_rank:
        return -1 if left_rank < right_rank else 1
    if left_rank == NUMBER:
        return compare_numbers(left, right)
    return _SAME_RANK[left_rank](left, right)


def _cmp(a: Any, b: Any) -> int:
    return -1 if a < b else (1 if a > b else 0)


def _compare_objects(left: dict, right: dict) -> int:
    """Field by field, in stored order: the value's type, then the name, then the value."""
    for (lkey, lval), (rkey, rval) in zip(left.items(), right.items(), strict=False):
        order = _cmp(rank(lval), rank(rval)) or _cmp(lkey, rkey) or compare(lval, rval)
        if order:
            return order
    return _cmp(len(left), len(right))


def _compare_arrays(left: Any, right: Any) -> int:
    for lval, rval in zip(left, right, strict=False):
        order = compare(lval, rval)
        if order:
            return order
    return _cmp(len(left), len(right))


def _compare_binary(left: bytes, right: bytes) -> int:
    lsub = left.subtype if isinstance(left, Binary) else 0
    rsub = right.subtype if isinstance(right, Binary) else 0
    return _cmp(len(left), len(right)) or _cmp(lsub, rsub) or _cmp(bytes(left), bytes(right))


def _compare_dates(left: _dt.datetime, right: _dt.datetime) -> int:
    return _cmp(_utc(left), _utc(right))


def _utc(value: _dt.datetime) -> _dt.datetime:
    return value.replace(tzinfo=None) if value.tzinfo is None else (
        value.astimezone(_dt.UTC).replace(tzinfo=None))


def _compare_regex(left: Any, right: Any) -> int:
    return _cmp(regex_parts(left), regex_parts(right))


def regex_parts(value: Any) -> tuple[str, str]:
    """``(pattern, flags)`` of a ``re.Pattern`` or ``bson.Regex``."""
    if isinstance(value, Regex):
        return str(value.pattern), "".join(sorted(value.flags if isinstance(value.flags, str)
                                                  else _flag_letters(value.flags)))
    return value.pattern, "".join(sorted(_flag_letters(value.flags)))


def _flag_letters(flags: int) -> str:
    letters = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s", re.VERBOSE: "x"}
    return "".join(letter for flag, letter in letters.items() if flags & flag)


_SAME_RANK = {
    MINKEY: lambda a, b: 0, MAXKEY: lambda a, b: 0, NULL: lambda a, b: 0,
    UNDEFINED: lambda a, b: 0, STRING: _cmp, OBJECT: _compare_objects, ARRAY: _compare_arrays,
    BINDATA: _compare_binary, OBJECTID: lambda a, b: _cmp(a.binary, b.binary),
    BOOL: _cmp, DATE: _compare_dates, TIMESTAMP: lambda a, b: _cmp((a.time, a.inc),
                                                                  (b.time, b.inc)),
    REGEX: _compare_regex, CODE: lambda a, b: _cmp(str(a), str(b)),
}


def equal(left: Any, right: Any) -> bool:
    """Value equality as MongoDB sees it (``1 == 1.0``, ``true != 1``, field order counts)."""
    kind = type(left)
    if kind is type(right) and (kind is str or kind is float) and left == right:
        return True
    return compare(left, right) == 0


def truthy(value: Any) -> bool:
    """Aggregation truthiness: false, null, missing and numeric zero are false."""
    kind = type(value)
    if kind is bool:
        return value
    if value is None or value is MISSING:
        return False
    if kind is int or kind is Int64 or kind is float:
        return value != 0
    if kind is Decimal128:
        return not value.to_decimal().is_zero()
    return True


def is_integral(value: Any) -> bool:
    """A number with an exact integer value (``3``, ``3.0``), as index arguments need."""
    kind = type(value)
    if kind is int or kind is Int64:
        return True
    if kind is float:
        return math.isfinite(value) and value == int(value)
    if kind is Decimal128:
        dec = value.to_decimal()
        return dec.is_finite() and dec == dec.to_integral_value()
    return False
