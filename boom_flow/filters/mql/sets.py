"""Set operators (``$setUnion``...) and the array-or-arguments reducers (``$sum``,
``$avg``, ``$max``, ``$min``) of aggregation expressions.

Set results come in MongoDB's canonical value order (its value sets are ordered), except
``$setDifference``, which keeps the first array's order; reducers ignore non-numbers
(``$sum``/``$avg``) or null and missing (``$max``/``$min``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boom_flow.filters.mql.arithmetic import (
    DECIMAL,
    DECIMAL_CONTEXT,
    DOUBLE,
    INT,
    decimal_result,
    decimal_sum,
    integer,
    kind,
)
from boom_flow.filters.mql.arrays import required_array
from boom_flow.filters.mql.scope import Builder, Evaluator, Scope
from boom_flow.filters.mql.values import MISSING, compare, equal, is_array


def distinct(values: list[Any]) -> list[Any]:
    """Values without duplicates (MongoDB equality), first occurrence kept."""
    kept: list[Any] = []
    for value in values:
        if not any(equal(value, seen) for seen in kept):
            kept.append(value)
    return kept


def _set_operator(operator: str, combine: Callable[[list[list[Any]]], Any],
                  low: int, high: int) -> Builder:
    def build(arg: Any, scope: Scope) -> Evaluator:
        items = scope.args(arg, low, high)

        def evaluate(variables: dict[str, Any]) -> Any:
            arrays = [item(variables) for item in items]
            if operator not in ("$setEquals", "$setIsSubset") and any(
                    a is None or a is MISSING for a in arrays):
                return None
            return combine([required_array(operator, array) for array in arrays])
        return evaluate
    return build


def _contains(array: list[Any], value: Any) -> bool:
    return any(equal(value, element) for element in array)


def _ordered(values: list[Any]) -> list[Any]:
    """Set results in canonical order, as MongoDB's ordered value sets give them."""
    return sorted(values, key=functools.cmp_to_key(compare))


def _union(arrays: list[list[Any]]) -> list[Any]:
    return _ordered(distinct([value for array in arrays for value in array]))


def _intersection(arrays: list[list[Any]]) -> list[Any]:
    if not arrays:
        return []
    return _ordered([v for v in distinct(arrays[0])
                     if all(_contains(a, v) for a in arrays[1:])])


def _difference(arrays: list[list[Any]]) -> list[Any]:
    first, second = arrays
    return [v for v in distinct(first) if not _contains(second, v)]


def _set_equals(arrays: list[list[Any]]) -> bool:
    first = arrays[0]
    return all(all(_contains(a, v) for v in first) and all(_contains(first, v) for v in a)
               for a in arrays[1:])


def _set_is_subset(arrays: list[list[Any]]) -> bool:
    first, second = arrays
    return all(_contains(second, v) for v in first)


def _numbers_of(items: list[Evaluator], variables: dict[str, Any]) -> list[Any]:
    """The arguments, or the elements of the single array argument."""
    values = [item(variables) for item in items]
    if len(values) == 1 and is_array(values[0]):
        values = list(values[0])
    return values


def extreme(values: list[Any], sign: int) -> Any:
    """The largest (``sign`` 1) or smallest (-1) value in MongoDB's order, null and
    missing ignored; null when nothing is left (``$max``/``$min``)."""
    best: Any = MISSING
    for value in values:
        if value is None or value is MISSING:
            continue
        if best is MISSING or sign * compare(value, best) > 0:
            best = value
    return None if best is MISSING else best


def _extreme(operator: str, sign: int) -> Builder:
    def build(arg: Any, scope: Scope) -> Evaluator:
        items = scope.args(arg, 1, 10_000)
        return lambda variables: extreme(_numbers_of(items, variables), sign)
    return build


def total(values: list[Any]) -> Any:
    """``$sum`` of the numbers among ``values`` (others ignored); 0 when there are none."""
    numbers = [v for v in values if kind(v) >= 0]
    widest = max((kind(v) for v in numbers), default=INT)
    if widest == DECIMAL:
        return decimal_result(decimal_sum(numbers, doubles_to_34_digits=True))
    if widest == DOUBLE:
        result = 0.0
        for value in numbers:
            result += float(value)
        return result
    return integer(sum(int(v) for v in numbers), widest)


def _sum(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 1, 10_000)
    return lambda variables: total(_numbers_of(items, variables))


def average(values: list[Any]) -> Any:
    """``$avg`` of the numbers among ``values`` (others ignored); null when none."""
    numbers = [v for v in values if kind(v) >= 0]
    if not numbers:
        return None
    result = total(numbers)
    if kind(result) == DECIMAL:
        return decimal_result(DECIMAL_CONTEXT.divide(result.to_decimal(), Decimal(len(numbers))))
    return float(result) / len(numbers)


def _avg(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 1, 10_000)
    return lambda variables: average(_numbers_of(items, variables))


OPERATORS: dict[str, Builder] = {
    "$setUnion": _set_operator("$setUnion", _union, 0, 10_000),
    "$setIntersection": _set_operator("$setIntersection", _intersection, 0, 10_000),
    "$setDifference": _set_operator("$setDifference", _difference, 2, 2),
    "$setEquals": _set_operator("$setEquals", _set_equals, 2, 10_000),
    "$setIsSubset": _set_operator("$setIsSubset", _set_is_subset, 2, 2),
    "$max": _extreme("$max", 1),
    "$min": _extreme("$min", -1),
    "$sum": _sum,
    "$avg": _avg,
}
