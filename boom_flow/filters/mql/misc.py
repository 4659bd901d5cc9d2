"""Type, conversion, string and object expression operators."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from bson import Decimal128, Int64, ObjectId

from boom_flow.filters.mql.arithmetic import (
    DECIMAL,
    DECIMAL_CONTEXT,
    DOUBLE,
    as_float,
    decimal_result,
    kind,
    millis,
    to_decimal,
)
from boom_flow.filters.mql.scope import Builder, Evaluator, Scope, fail
from boom_flow.filters.mql.values import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    MISSING,
    is_array,
    is_number,
    truthy,
    type_name,
)


def _one(operator: str, function: Any) -> Builder:
    """A one-argument operator: ``function(value)`` on the evaluated argument."""
    def build(arg: Any, scope: Scope) -> Evaluator:
        (item,) = scope.args(arg, 1)
        return lambda variables: function(item(variables))
    return build


def format_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value)) if value != 0 or math.copysign(1, value) > 0 else "-0"
    return repr(value)


def to_string(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    cls = type(value)
    if cls is str:
        return value
    if cls is bool:
        return "true" if value else "false"
    if cls is float:
        return format_double(value)
    if cls is int or cls is Int64:
        return str(int(value))
    if cls is Decimal128:
        return str(value)
    if cls is ObjectId:
        return str(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    raise fail("$toString", f"unsupported conversion from {type_name(value)} to string")


def _parse_number(text: str, integer: bool) -> Any:
    try:
        return int(text, 10) if integer else float(text)
    except ValueError as error:
        raise fail("$convert", f"failed to parse number '{text}'") from error


def to_double(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if type(value) is bool:
        return 1.0 if value else 0.0
    if is_number(value):
        return as_float(value)
    if type(value) is str:
        return _parse_number(value, False)
    if isinstance(value, _dt.datetime):
        return float(millis(value))
    raise fail("$toDouble", f"unsupported conversion from {type_name(value)} to double")


def _to_integer(operator: str, low: int, high: int, wrap: Any) -> Any:
    def convert(value: Any) -> Any:
        if value is None or value is MISSING:
            return None
        if type(value) is bool:
            return wrap(1 if value else 0)
        if type(value) is str:
            number = _parse_number(value, True)
        elif is_number(value):
            number_kind = kind(value)
            if number_kind in (DOUBLE, DECIMAL):
                as_real = as_float(value)
                if not math.isfinite(as_real):
                    raise fail(operator, f"can't convert {as_real} to an integer")
                number = int(as_real)
            else:
                number = int(value)
        else:
            raise fail(operator, f"unsupported conversion from {type_name(value)}")
        if not low <= number <= high:
            raise fail(operator, f"conversion would overflow: {value!r}")
        return wrap(number)
    return convert


def to_decimal128(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if type(value) is bool:
        return Decimal128("1" if value else "0")
    if type(value) is Decimal128:
        return value
    if is_number(value):
        return decimal_result(to_decimal(value))
    if type(value) is str:
        try:
            return decimal_result(DECIMAL_CONTEXT.create_decimal(value))
        except ArithmeticError as error:
            raise fail("$toDecimal", f"failed to parse number '{value}'") from error
    if isinstance(value, _dt.datetime):
        return Decimal128(str(millis(value)))
    raise fail("$toDecimal", f"unsupported conversion from {type_name(value)} to decimal")


def to_bool(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    return truthy(value)


def _type(value: Any) -> str:
    return type_name(value)


def _concat(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 0, 10_000)

    def evaluate(variables: dict[str, Any]) -> Any:
        parts = []
        for item in items:
            value = item(variables)
            if value is None or value is MISSING:
                return None
            if type(value) is not str:
                raise fail("$concat", f"only supports strings, not {type_name(value)}")
            parts.append(value)
        return "".join(parts)
    return evaluate


def _string_function(operator: str, function: Any) -> Builder:
    def build(arg: Any, scope: Scope) -> Evaluator:
        (item,) = scope.args(arg, 1)

        def evaluate(variables: dict[str, Any]) -> Any:
            value = item(variables)
            if value is None or value is MISSING:
                return function("")
            if type(value) is not str and not is_number(value):
                raise fail(operator, f"can't convert {type_name(value)} to a string")
            return function(value if type(value) is str else to_string(value))
        return evaluate
    return build


def _str_len(arg: Any, scope: Scope) -> Evaluator:
    (item,) = scope.args(arg, 1)

    def evaluate(variables: dict[str, Any]) -> int:
        value = item(variables)
        if type(value) is not str:
            raise fail("$strLenCP", f"requires a string argument, found: {type_name(value)}")
        return len(value)
    return evaluate


def _split(arg: Any, scope: Scope) -> Evaluator:
    text, separator = scope.args(arg, 2)

    def evaluate(variables: dict[str, Any]) -> Any:
        value, sep = text(variables), separator(variables)
        if value is None or value is MISSING:
            return None
        if type(value) is not str or type(sep) is not str:
            raise fail("$split", "requires a string and a string delimiter")
        if not sep:
            raise fail("$split", "requires a non-empty separator")
        return value.split(sep)
    return evaluate


def _merge_objects(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 1, 10_000)

    def evaluate(variables: dict[str, Any]) -> dict[str, Any]:
        values = [item(variables) for item in items]
        merged: dict[str, Any] = {}
        for value in values:
            if value is None or value is MISSING:
                continue
            if not isinstance(value, dict):
                raise fail("$mergeObjects", f"requires object inputs, but input is of type "
                           f"{type_name(value)}")
            merged.update(value)
        return merged
    return evaluate


def _get_field(arg: Any, scope: Scope) -> Evaluator:
    if isinstance(arg, dict) and "field" in arg:
        named = scope.named(arg, ("field",), ("input",))
        source = scope.compile(named["input"], "input") if "input" in named else (
            lambda variables: variables["CURRENT"])
        field = named["field"]
    else:
        field, source = arg, (lambda variables: variables["CURRENT"])
    if not isinstance(field, str):
        raise scope.error("$getField requires 'field' to be a string constant")

    def evaluate(variables: dict[str, Any]) -> Any:
        value = source(variables)
        if value is None or value is MISSING:
            return None
        if not isinstance(value, dict):
            raise fail("$getField", f"'input' must be an object, not {type_name(value)}")
        return value.get(field, MISSING)
    return evaluate


def _object_to_array(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not isinstance(value, dict):
        raise fail("$objectToArray", f"requires a document input, found: {type_name(value)}")
    return [{"k": key, "v": field} for key, field in value.items()]


def _array_to_object(value: Any) -> Any:
    if value is None or value is MISSING:
        return None
    if not is_array(value):
        raise fail("$arrayToObject", f"requires an array input, found: {type_name(value)}")
    result: dict[str, Any] = {}
    for pair in value:
        if isinstance(pair, dict) and set(pair) == {"k", "v"} and type(pair["k"]) is str:
            result[pair["k"]] = pair["v"]
        elif is_array(pair) and len(pair) == 2 and type(pair[0]) is str:
            result[pair[0]] = pair[1]
        else:
            raise fail("$arrayToObject", "requires [k, v] pairs or {k, v} documents")
    return result


def _int(value: int) -> int:
    return value


OPERATORS: dict[str, Builder] = {
    "$type": _one("$type", _type),
    "$isNumber": _one("$isNumber", is_number),
    "$toString": _one("$toString", to_string),
    "$toDouble": _one("$toDouble", to_double),
    "$toInt": _one("$toInt", _to_integer("$toInt", INT32_MIN, INT32_MAX, _int)),
    "$toLong": _one("$toLong", _to_integer("$toLong", INT64_MIN, INT64_MAX, Int64)),
    "$toBool": _one("$toBool", to_bool),
    "$toDecimal": _one("$toDecimal", to_decimal128),
    "$concat": _concat,
    "$toLower": _string_function("$toLower", str.lower),
    "$toUpper": _string_function("$toUpper", str.upper),
    "$strLenCP": _str_len,
    "$split": _split,
    "$mergeObjects": _merge_objects,
    "$getField": _get_field,
    "$objectToArray": _one("$objectToArray", _object_to_array),
    "$arrayToObject": _one("$arrayToObject", _array_to_object),
}
