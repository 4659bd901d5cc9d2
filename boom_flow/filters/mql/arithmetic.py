"""Arithmetic expression operators with MongoDB's numeric types and null rules.

Types widen int -> long -> double -> decimal; an integer result that overflows its type
widens (int32 -> long -> double), as in MongoDB. A null or missing argument gives null;
any other non-number is a run-time error (dates where MongoDB allows them).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from bson import Decimal128, Int64

from boom_flow.filters.mql.scope import Builder, Evaluator, Scope, fail
from boom_flow.filters.mql.values import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    MISSING,
    is_integral,
    type_name,
)

INT, LONG, DOUBLE, DECIMAL = 0, 1, 2, 3
DECIMAL_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN, Emax=6144, Emin=-6143)
_EPOCH = _dt.datetime(1970, 1, 1)


def kind(value: Any) -> int:
    """INT/LONG/DOUBLE/DECIMAL of a number; -1 for anything else."""
    cls = type(value)
    if cls is float:
        return DOUBLE
    if cls is int:
        return INT if INT32_MIN <= value <= INT32_MAX else LONG
    if cls is Int64:
        return LONG
    if cls is Decimal128:
        return DECIMAL
    return -1


def integer(value: int, widest: int) -> Any:
    """An exact integer result typed like MongoDB: int, else long, else double."""
    if widest == INT and INT32_MIN <= value <= INT32_MAX:
        return value
    if INT64_MIN <= value <= INT64_MAX:
        return Int64(value)
    return float(value)


def to_decimal(value: Any) -> Decimal:
    if type(value) is Decimal128:
        return value.to_decimal()
    if type(value) is float:
        return double_to_decimal(value)
    return Decimal(int(value))


def double_to_decimal(value: float) -> Decimal:
    """A double as MongoDB makes it a decimal128 (mixed arithmetic, ``$toDecimal``):
    rounded to 15 significant digits, trailing zeros kept (``0.1`` -> ``0.100000000000000``),
    not the double's exact binary value."""
    exact = Decimal(value)
    if not exact.is_finite() or exact.is_zero():
        return exact if not exact.is_zero() else Decimal(0)
    quantum = Decimal(1).scaleb(exact.adjusted() - 14)
    return exact.quantize(quantum, rounding=ROUND_HALF_EVEN, context=DECIMAL_CONTEXT)


def decimal_sum(values: Iterable[Any], doubles_to_34_digits: bool = False) -> Decimal:
    """The sum in decimal128 arithmetic (34 digits, rounded at each step as MongoDB
    adds), not in Python's default 28-digit context. Doubles become decimals with 15
    digits as in ``$add``, or with 34 as the ``$sum`` accumulator converts its double
    total."""
    result = Decimal(0)
    for value in values:
        if doubles_to_34_digits and type(value) is float:
            term = DECIMAL_CONTEXT.create_decimal_from_float(value)
        else:
            term = to_decimal(value)
        result = DECIMAL_CONTEXT.add(result, term)
    return result


def decimal_result(value: Decimal) -> Decimal128:
    return Decimal128(DECIMAL_CONTEXT.plus(value))


def as_float(value: Any) -> float:
    return float(value.to_decimal()) if type(value) is Decimal128 else float(value)


def _is_date(value: Any) -> bool:
    return isinstance(value, _dt.datetime)


def millis(value: _dt.datetime) -> int:
    if value.tzinfo is not None:
        value = value.astimezone(_dt.UTC).replace(tzinfo=None)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_millis(ms: float) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(milliseconds=int(ms))


def _sum(values: list[Any], operator: str) -> Any:
    widest, date = INT, None
    for value in values:
        if value is None or value is MISSING:
            return None
        if _is_date(value):
            if date is not None:
                raise fail(operator, "only one date allowed in an $add expression")
            date = value
            continue
        value_kind = kind(value)
        if value_kind < 0:
            raise fail(operator, f"only supports numeric or date types, not {type_name(value)}")
        widest = max(widest, value_kind)
    numbers = [v for v in values if v is not date]
    if widest == DECIMAL:
        total: Any = decimal_result(decimal_sum(numbers))
    elif widest == DOUBLE:
        total = 0.0
        for value in numbers:
            total += float(value)
    else:
        total = integer(sum(int(v) for v in numbers), widest)
    if date is not None:
        return from_millis(millis(date) + round(as_float(total)))
    return total


def _add(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 0, 10_000)
    return lambda variables: _sum([item(variables) for item in items], "$add")


def _product(values: list[Any]) -> Any:
    widest = INT
    for value in values:
        if value is None or value is MISSING:
            return None
        value_kind = kind(value)
        if value_kind < 0:
            raise fail("$multiply", f"only supports numeric types, not {type_name(value)}")
        widest = max(widest, value_kind)
    if widest == DECIMAL:
        product = Decimal(1)
        for value in values:
            product = DECIMAL_CONTEXT.multiply(product, to_decimal(value))
        return decimal_result(product)
    if widest == DOUBLE:
        result = 1.0
        for value in values:
            result *= float(value)
        return result
    exact = 1
    for value in values:
        exact *= int(value)
    return integer(exact, widest)


def _multiply(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 0, 10_000)
    return lambda variables: _product([item(variables) for item in items])


def subtract(left: Any, right: Any) -> Any:
    """``$subtract`` of two evaluated values."""
    left_kind, right_kind = kind(left), kind(right)
    if left_kind == DOUBLE and right_kind == DOUBLE:
        return left - right
    if left is None or left is MISSING or right is None or right is MISSING:
        return None
    if left_kind >= 0 and right_kind >= 0:
        widest = max(left_kind, right_kind)
        if widest == DECIMAL:
            return decimal_result(DECIMAL_CONTEXT.subtract(to_decimal(left), to_decimal(right)))
        if widest == DOUBLE:
            return float(left) - float(right)
        return integer(int(left) - int(right), widest)
    if _is_date(left):
        if _is_date(right):
            return Int64(millis(left) - millis(right))
        if right_kind >= 0:
            return from_millis(millis(left) - round(as_float(right)))
        raise fail("$subtract", f"can't $subtract {type_name(right)} from date")
    raise fail("$subtract", f"can't $subtract {type_name(right)} from {type_name(left)}")


def _subtract(arg: Any, scope: Scope) -> Evaluator:
    left, right = scope.args(arg, 2)
    return lambda variables: subtract(left(variables), right(variables))


def _numeric_pair(operator: str, left: Any, right: Any) -> tuple[int, int] | None:
    if left is None or left is MISSING or right is None or right is MISSING:
        return None
    left_kind, right_kind = kind(left), kind(right)
    if left_kind < 0 or right_kind < 0:
        bad = left if left_kind < 0 else right
        raise fail(operator, f"only supports numeric types, not {type_name(bad)}")
    return left_kind, right_kind


def divide(left: Any, right: Any) -> Any:
    kinds = _numeric_pair("$divide", left, right)
    if kinds is None:
        return None
    if max(kinds) == DECIMAL:
        divisor = to_decimal(right)
        if divisor.is_zero():
            raise fail("$divide", "can't $divide by zero")
        return decimal_result(DECIMAL_CONTEXT.divide(to_decimal(left), divisor))
    if right == 0:
        raise fail("$divide", "can't $divide by zero")
    return float(left) / float(right)


def _divide(arg: Any, scope: Scope) -> Evaluator:
    left, right = scope.args(arg, 2)
    return lambda variables: divide(left(variables), right(variables))


def modulo(left: Any, right: Any) -> Any:
    kinds = _numeric_pair("$mod", left, right)
    if kinds is None:
        return None
    widest = max(kinds)
    if widest == DECIMAL:
        divisor = to_decimal(right)
        if divisor.is_zero():
            raise fail("$mod", "can't $mod by zero")
        return decimal_result(DECIMAL_CONTEXT.remainder(to_decimal(left), divisor))
    if right == 0:
        raise fail("$mod", "can't $mod by zero")
    if widest == DOUBLE:
        return math.fmod(float(left), float(right))
    a, b = int(left), int(right)
    remainder = abs(a) % abs(b)
    return integer(-remainder if a < 0 else remainder, widest)


def _mod(arg: Any, scope: Scope) -> Evaluator:
    left, right = scope.args(arg, 2)
    return lambda variables: modulo(left(variables), right(variables))


def _unary(operator: str, arg: Any, scope: Scope) -> Evaluator:
    (item,) = scope.args(arg, 1)
    return item


def _check_number(operator: str, value: Any) -> int:
    value_kind = kind(value)
    if value_kind < 0:
        raise fail(operator, f"only supports numeric types, not {type_name(value)}")
    return value_kind


def absolute(value: Any) -> Any:
    if type(value) is float:
        return abs(value)
    if value is None or value is MISSING:
        return None
    value_kind = _check_number("$abs", value)
    if value_kind == DECIMAL:
        return Decimal128(DECIMAL_CONTEXT.abs(value.to_decimal()))
    if value_kind == LONG and int(value) == INT64_MIN:
        raise fail("$abs", "can't take $abs of long long min")
    return integer(abs(int(value)), value_kind)


def _abs(arg: Any, scope: Scope) -> Evaluator:
    item = _unary("$abs", arg, scope)
    return lambda variables: absolute(item(variables))


def _rounding(operator: str, to_integer: Any) -> Builder:
    """``$ceil``/``$floor``: integers unchanged, doubles stay doubles."""
    def build(arg: Any, scope: Scope) -> Evaluator:
        item = _unary(operator, arg, scope)

        def evaluate(variables: dict[str, Any]) -> Any:
            value = item(variables)
            if value is None or value is MISSING:
                return None
            value_kind = _check_number(operator, value)
            if value_kind <= LONG:
                return value
            if value_kind == DECIMAL:
                dec = value.to_decimal()
                return Decimal128(dec.to_integral_value(rounding=to_integer[1]))
            if not math.isfinite(value):
                return value
            return float(to_integer[0](value))
        return evaluate
    return build


def round_or_trunc(operator: str, value: Any, place: Any) -> Any:
    """``$round`` (ties to even) and ``$trunc`` to ``place`` decimal places (-20..100)."""
    if value is None or value is MISSING or place is None or place is MISSING:
        return None
    value_kind = _check_number(operator, value)
    if not is_integral(place) or not -20 <= int(as_float(place)) < 100:
        raise fail(operator, f"precision must be an integer in [-20, 100), not {place!r}")
    digits = int(as_float(place))
    rounding = ROUND_HALF_EVEN if operator == "$round" else ROUND_DOWN
    quantum = Decimal(1).scaleb(-digits)
    if value_kind <= LONG:
        if digits >= 0:
            return value
        rounded = int(Decimal(int(value)).quantize(quantum, rounding=rounding))
        return integer(rounded, value_kind)
    if value_kind == DOUBLE:
        if not math.isfinite(value) or (digits >= 0 and abs(value) >= 2.0**53):
            return value  # already integral: nothing to round
        exact = DECIMAL_CONTEXT.create_decimal_from_float(value)
        return float(_quantize(exact, quantum, rounding))
    dec = value.to_decimal()
    if not dec.is_finite():
        return value
    return decimal_result(_quantize(dec, quantum, rounding))


def _quantize(value: Decimal, quantum: Decimal, rounding: str) -> Decimal:
    context = Context(prec=1000, rounding=rounding, Emax=999_999, Emin=-999_999)
    return value.quantize(quantum, rounding=rounding, context=context)


def _round_builder(operator: str) -> Builder:
    def build(arg: Any, scope: Scope) -> Evaluator:
        items = scope.args(arg, 1, 2)
        value = items[0]
        place = items[1] if len(items) > 1 else (lambda variables: 0)
        return lambda variables: round_or_trunc(operator, value(variables), place(variables))
    return build


def _float_function(operator: str, function: Any, decimal_function: Any, domain: Any = None,
                    message: str = "") -> Builder:
    """``$sqrt``, ``$exp``, ``$ln``, ``$log10``: a double result (decimal for decimals)."""
    def build(arg: Any, scope: Scope) -> Evaluator:
        item = _unary(operator, arg, scope)

        def evaluate(variables: dict[str, Any]) -> Any:
            value = item(variables)
            if value is None or value is MISSING:
                return None
            value_kind = _check_number(operator, value)
            number = as_float(value)
            if domain is not None and not math.isnan(number) and not domain(number):
                raise fail(operator, message)
            if value_kind == DECIMAL:
                return decimal_result(decimal_function(DECIMAL_CONTEXT, value.to_decimal()))
            try:
                result = function(number)
            except OverflowError:
                result = math.inf
            return result
        return evaluate
    return build


def _log(arg: Any, scope: Scope) -> Evaluator:
    number, base = scope.args(arg, 2)

    def evaluate(variables: dict[str, Any]) -> Any:
        kinds = _numeric_pair("$log", number(variables), base(variables))
        if kinds is None:
            return None
        value, radix = as_float(number(variables)), as_float(base(variables))
        if value <= 0:
            raise fail("$log", "$log's argument must be a positive number")
        if radix <= 0 or radix == 1:
            raise fail("$log", "$log's base must be a positive number not equal to 1")
        return math.log(value) / math.log(radix)
    return evaluate


def power(base: Any, exponent: Any) -> Any:
    kinds = _numeric_pair("$pow", base, exponent)
    if kinds is None:
        return None
    widest = max(kinds)
    if widest == DECIMAL:
        return decimal_result(DECIMAL_CONTEXT.power(to_decimal(base), to_decimal(exponent)))
    if widest == DOUBLE:
        try:
            return math.pow(float(base), float(exponent))
        except OverflowError:
            return math.inf
        except ValueError:  # a negative base to a fractional power, 0 to a negative one
            return math.nan if float(base) != 0 else math.inf
    b, e = int(base), int(exponent)
    if b == 0 and e < 0:
        raise fail("$pow", "$pow cannot take a base of 0 and a negative exponent")
    if e < 0:
        if b == 1 or b == -1:
            return integer(1 if b == 1 or e % 2 == 0 else -1, widest)
        return math.pow(b, e)
    result = b**e if abs(b) <= 1 or e < 64 else None
    if result is None or not INT64_MIN <= result <= INT64_MAX:
        return math.pow(b, e)
    return integer(result, widest)


def _pow(arg: Any, scope: Scope) -> Evaluator:
    base, exponent = scope.args(arg, 2)
    return lambda variables: power(base(variables), exponent(variables))


def _ln(x: float) -> float:
    return math.log(x) if x != math.inf else math.inf


def _sqrt(x: float) -> float:
    return math.sqrt(x) if not math.isnan(x) else x


def _log10(x: float) -> float:
    return math.log10(x) if x != math.inf else math.inf


OPERATORS: dict[str, Builder] = {
    "$add": _add,
    "$subtract": _subtract,
    "$multiply": _multiply,
    "$divide": _divide,
    "$mod": _mod,
    "$abs": _abs,
    "$ceil": _rounding("$ceil", (math.ceil, "ROUND_CEILING")),
    "$floor": _rounding("$floor", (math.floor, "ROUND_FLOOR")),
    "$round": _round_builder("$round"),
    "$trunc": _round_builder("$trunc"),
    "$sqrt": _float_function("$sqrt", _sqrt, Context.sqrt, lambda x: x >= 0,
                             "$sqrt's argument must be greater than or equal to 0"),
    "$exp": _float_function("$exp", math.exp, Context.exp),
    "$ln": _float_function("$ln", _ln, Context.ln, lambda x: x > 0,
                           "$ln's argument must be a positive number"),
    "$log10": _float_function("$log10", _log10, Context.log10, lambda x: x > 0,
                              "$log10's argument must be a positive number"),
    "$log": _log,
    "$pow": _pow,
}
