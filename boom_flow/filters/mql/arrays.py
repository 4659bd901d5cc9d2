"""Array expression operators: iteration (``$map``, ``$filter``, ``$reduce``), access,
construction, ``$sortArray``, ``$in`` (sets and reducers are in ``sets.py``).

Null rules follow MongoDB: most operators give null for a null or missing array and fail
on any other non-array; ``$size``, ``$in``, ``$anyElementTrue`` and ``$range`` fail on
null too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from boom_flow.filters.mql.paths import query_values
from boom_flow.filters.mql.scope import Builder, Evaluator, Scope, fail
from boom_flow.filters.mql.values import (
    INT32_MAX,
    INT32_MIN,
    MISSING,
    compare,
    equal,
    is_array,
    is_integral,
    truthy,
    type_name,
)


def _array_or_null(operator: str, value: Any) -> list | None:
    """The array argument; None when null/missing; a run-time error otherwise."""
    if value is None or value is MISSING:
        return None
    if not is_array(value):
        raise fail(operator, f"argument must be an array, but is {type_name(value)}")
    return value


def required_array(operator: str, value: Any) -> list:
    if not is_array(value):
        raise fail(operator, f"argument must be an array, but is {type_name(value)}")
    return value


def _bind(variables: dict[str, Any], name: str, value: Any) -> Any:
    old = variables.get(name, MISSING)
    variables[name] = value
    return old


def _unbind(variables: dict[str, Any], name: str, old: Any) -> None:
    if old is MISSING:
        variables.pop(name, None)
    else:
        variables[name] = old


def _map(arg: Any, scope: Scope) -> Evaluator:
    named = scope.named(arg, ("input", "in"), ("as",))
    name = scope.variable_name(named.get("as", "this"))
    source = scope.compile(named["input"], "input")
    body = scope.with_variables([name]).compile(named["in"], "in")

    def evaluate(variables: dict[str, Any]) -> Any:
        array = _array_or_null("$map", source(variables))
        if array is None:
            return None
        old = _bind(variables, name, None)
        result = []
        for element in array:
            variables[name] = element
            value = body(variables)
            result.append(None if value is MISSING else value)
        _unbind(variables, name, old)
        return result
    return evaluate


def _filter(arg: Any, scope: Scope) -> Evaluator:
    named = scope.named(arg, ("input", "cond"), ("as", "limit"))
    name = scope.variable_name(named.get("as", "this"))
    source = scope.compile(named["input"], "input")
    condition = scope.with_variables([name]).compile(named["cond"], "cond")
    limit = scope.compile(named["limit"], "limit") if "limit" in named else None

    def evaluate(variables: dict[str, Any]) -> Any:
        array = _array_or_null("$filter", source(variables))
        if array is None:
            return None
        most = _limit(limit(variables)) if limit is not None else None
        old = _bind(variables, name, None)
        result = []
        for element in array:
            if most is not None and len(result) >= most:
                break
            variables[name] = element
            if truthy(condition(variables)):
                result.append(element)
        _unbind(variables, name, old)
        return result
    return evaluate


def _limit(value: Any) -> int | None:
    if value is None or value is MISSING:
        return None
    if not is_integral(value) or int(value) < 1:
        raise fail("$filter", "limit must be a positive integer")
    return int(value)


def _reduce(arg: Any, scope: Scope) -> Evaluator:
    named = scope.named(arg, ("input", "initialValue", "in"))
    source = scope.compile(named["input"], "input")
    initial = scope.compile(named["initialValue"], "initialValue")
    body = scope.with_variables(["this", "value"]).compile(named["in"], "in")

    def evaluate(variables: dict[str, Any]) -> Any:
        array = _array_or_null("$reduce", source(variables))
        if array is None:
            return None
        accumulated = initial(variables)
        old_this, old_value = _bind(variables, "this", None), _bind(variables, "value", None)
        for element in array:
            variables["this"], variables["value"] = element, accumulated
            accumulated = body(variables)
        _unbind(variables, "this", old_this)
        _unbind(variables, "value", old_value)
        return accumulated
    return evaluate


def _int32(operator: str, what: str, value: Any) -> int:
    if not is_integral(value) or not INT32_MIN <= int(value) <= INT32_MAX:
        raise fail(operator, f"{what} must be representable as a 32-bit integer, not "
                   f"{type_name(value)} {value!r}")
    return int(value)


def _range(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 2, 3)

    def evaluate(variables: dict[str, Any]) -> Any:
        start = _int32("$range", "starting value", items[0](variables))
        end = _int32("$range", "ending value", items[1](variables))
        step = _int32("$range", "step value", items[2](variables)) if len(items) > 2 else 1
        if step == 0:
            raise fail("$range", "step value cannot be 0")
        return list(range(start, end, step))
    return evaluate


def _size(arg: Any, scope: Scope) -> Evaluator:
    (item,) = scope.args(arg, 1)

    def evaluate(variables: dict[str, Any]) -> int:
        value = item(variables)
        if type(value) is list:
            return len(value)
        return len(required_array("$size", value))
    return evaluate


def _array_elem_at(arg: Any, scope: Scope) -> Evaluator:
    source, position = scope.args(arg, 2)

    def evaluate(variables: dict[str, Any]) -> Any:
        array, index = source(variables), position(variables)
        if array is None or array is MISSING or index is None or index is MISSING:
            return None
        required_array("$arrayElemAt", array)
        if not is_integral(index):
            raise fail("$arrayElemAt", f"second argument must be an integer, not "
                       f"{type_name(index)}")
        at = int(index)
        if -len(array) <= at < len(array):
            return array[at]
        return MISSING
    return evaluate


def _first_last(operator: str, pick: int) -> Builder:
    def build(arg: Any, scope: Scope) -> Evaluator:
        (item,) = scope.args(arg, 1)

        def evaluate(variables: dict[str, Any]) -> Any:
            array = _array_or_null(operator, item(variables))
            if array is None:
                return None
            return array[pick] if array else MISSING
        return evaluate
    return build


def _concat_arrays(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 0, 10_000)

    def evaluate(variables: dict[str, Any]) -> Any:
        result: list[Any] = []
        for item in items:
            array = _array_or_null("$concatArrays", item(variables))
            if array is None:
                return None
            result.extend(array)
        return result
    return evaluate


def _sort_array(arg: Any, scope: Scope) -> Evaluator:
    named = scope.named(arg, ("input", "sortBy"))
    source = scope.compile(named["input"], "input")
    key = sort_key(named["sortBy"], scope.at("sortBy"))

    def evaluate(variables: dict[str, Any]) -> Any:
        array = _array_or_null("$sortArray", source(variables))
        if array is None:
            return None
        return sorted(array, key=key)
    return evaluate


def sort_key(spec: Any, scope: Scope) -> Callable[[Any], Any]:
    """A stable ``sorted`` key for a ``sortBy``/``$sort`` spec (1/-1 or ``{path: 1/-1}``)."""
    if spec in (1, -1) and not isinstance(spec, bool):
        direction = int(spec)
        return functools.cmp_to_key(lambda a, b: direction * compare(a, b))
    if not isinstance(spec, dict) or not spec:
        raise scope.error("sortBy must be 1, -1 or a non-empty object of fields to 1 or -1")
    fields = []
    for path, direction in spec.items():
        if direction not in (1, -1) or isinstance(direction, bool):
            raise scope.at(path).error("sort direction must be 1 or -1")
        fields.append((tuple(path.split(".")), int(direction)))

    def order(a: Any, b: Any) -> int:
        for parts, direction in fields:
            result = compare(_sort_value(a, parts, direction), _sort_value(b, parts, direction))
            if result:
                return direction * result
        return 0
    return functools.cmp_to_key(order)


def _sort_value(value: Any, parts: tuple[str, ...], direction: int) -> Any:
    """The value a document sorts by: missing counts as null; an array by its extreme."""
    if not isinstance(value, dict):
        return None
    found = [v for v in query_values(value, parts) if v is not MISSING]
    keys: list[Any] = []
    for item in found:
        if is_array(item):
            keys.extend(item if item else [MISSING])
        else:
            keys.append(item)
    keys = [None if k is MISSING else k for k in keys]
    if not keys:
        return None
    pick = min if direction == 1 else max
    return pick(keys, key=functools.cmp_to_key(compare))


def _elements_test(operator: str, want_any: bool) -> Builder:
    def build(arg: Any, scope: Scope) -> Evaluator:
        (item,) = scope.args(arg, 1)

        def evaluate(variables: dict[str, Any]) -> bool:
            array = required_array(operator, item(variables))
            if want_any:
                return any(truthy(element) for element in array)
            return all(truthy(element) for element in array)
        return evaluate
    return build


def _in(arg: Any, scope: Scope) -> Evaluator:
    needle, haystack = scope.args(arg, 2)

    def evaluate(variables: dict[str, Any]) -> bool:
        value = needle(variables)
        array = required_array("$in", haystack(variables))
        return any(equal(value, element) for element in array)
    return evaluate


def _index_of_array(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 2, 4)

    def evaluate(variables: dict[str, Any]) -> Any:
        array = _array_or_null("$indexOfArray", items[0](variables))
        if array is None:
            return None
        value = items[1](variables)
        bounds = [_index_bound(item(variables)) for item in items[2:]]
        start = bounds[0] if bounds else 0
        end = bounds[1] if len(bounds) > 1 else len(array)
        for index in range(start, min(end, len(array))):
            if equal(array[index], value):
                return index
        return -1
    return evaluate


def _index_bound(value: Any) -> int:
    if not is_integral(value) or int(value) < 0:
        raise fail("$indexOfArray", "start and end must be non-negative integers")
    return int(value)


def _slice(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 2, 3)

    def evaluate(variables: dict[str, Any]) -> Any:
        values = [item(variables) for item in items]
        if any(v is None or v is MISSING for v in values):
            return None
        array = required_array("$slice", values[0])
        for value in values[1:]:
            if not is_integral(value):
                raise fail("$slice", f"arguments must be integers, not {type_name(value)}")
        if len(values) == 2:
            count = int(values[1])
            return array[:count] if count >= 0 else array[max(len(array) + count, 0):]
        position, count = int(values[1]), int(values[2])
        if count <= 0:
            raise fail("$slice", "third argument must be positive")
        start = position if position >= 0 else max(len(array) + position, 0)
        return array[start:start + count]
    return evaluate


def _reverse_array(arg: Any, scope: Scope) -> Evaluator:
    (item,) = scope.args(arg, 1)

    def evaluate(variables: dict[str, Any]) -> Any:
        array = _array_or_null("$reverseArray", item(variables))
        return None if array is None else list(reversed(array))
    return evaluate


def _is_array(arg: Any, scope: Scope) -> Evaluator:
    (item,) = scope.args(arg, 1)
    return lambda variables: is_array(item(variables))


OPERATORS: dict[str, Builder] = {
    "$map": _map,
    "$filter": _filter,
    "$reduce": _reduce,
    "$range": _range,
    "$size": _size,
    "$arrayElemAt": _array_elem_at,
    "$first": _first_last("$first", 0),
    "$last": _first_last("$last", -1),
    "$concatArrays": _concat_arrays,
    "$sortArray": _sort_array,
    "$anyElementTrue": _elements_test("$anyElementTrue", True),
    "$allElementsTrue": _elements_test("$allElementsTrue", False),
    "$in": _in,
    "$indexOfArray": _index_of_array,
    "$slice": _slice,
    "$reverseArray": _reverse_array,
    "$isArray": _is_array,
}
