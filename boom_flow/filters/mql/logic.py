"""Boolean, comparison, conditional and variable-binding expression operators.

Comparisons in expressions use MongoDB's total order across types (missing < null <
numbers < strings < objects < arrays < ... ), unlike the query language's type
bracketing: ``{$lt: ["$absent", 15]}`` is true. Truthiness: false, null, missing and 0
are false, everything else (empty arrays included) is true.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from boom_flow.filters.mql.scope import Builder, Evaluator, Scope, fail
from boom_flow.filters.mql.values import MISSING, compare, is_array, truthy


def _and(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 0, 10_000)

    def evaluate(variables: dict[str, Any]) -> bool:
        for item in items:  # noqa: SIM110 (hot path: faster than any/all on a generator)
            if not truthy(item(variables)):
                return False
        return True
    return evaluate


def _or(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 0, 10_000)

    def evaluate(variables: dict[str, Any]) -> bool:
        for item in items:  # noqa: SIM110 (hot path: faster than any/all on a generator)
            if truthy(item(variables)):
                return True
        return False
    return evaluate


def _not(arg: Any, scope: Scope) -> Evaluator:
    (item,) = scope.args(arg, 1)
    return lambda variables: not truthy(item(variables))


def _fast_compare(left: Any, right: Any) -> int:
    """``compare`` with a shortcut for the common float/float and str/str cases."""
    kind = type(left)
    if kind is type(right) and (kind is str or (kind is float and left == left
                                                and right == right)):
        return -1 if left < right else (1 if left > right else 0)
    return compare(left, right)


def _comparison(native: Callable[[Any, Any], bool], test: Callable[[int], bool]) -> Builder:
    """``$lt``... : Python's own operator when both sides are plain numbers (not NaN) or
    strings, MongoDB's total order otherwise; a constant right side is specialised."""
    def build(arg: Any, scope: Scope) -> Evaluator:
        left, right = scope.args(arg, 2)
        constant = getattr(right, "constant", MISSING)
        if type(constant) in (float, int) and constant == constant:
            def against_number(variables: dict[str, Any]) -> bool:
                value = left(variables)
                kind = type(value)
                if (kind is float or kind is int) and value == value:
                    return native(value, constant)
                return test(compare(value, constant))
            return against_number

        def general(variables: dict[str, Any]) -> bool:
            a, b = left(variables), right(variables)
            left_kind, right_kind = type(a), type(b)
            if ((left_kind is float or left_kind is int) and (right_kind is float
                                                              or right_kind is int)
                    and a == a and b == b) or (left_kind is str and right_kind is str):
                return native(a, b)
            return test(compare(a, b))
        return general
    return build


def _cmp(arg: Any, scope: Scope) -> Evaluator:
    left, right = scope.args(arg, 2)
    return lambda variables: _fast_compare(left(variables), right(variables))


def _cond(arg: Any, scope: Scope) -> Evaluator:
    if isinstance(arg, dict):
        named = scope.named(arg, ("if", "then", "else"))
        test, then, otherwise = (scope.compile(named[key], key) for key in ("if", "then",
                                                                             "else"))
    else:
        test, then, otherwise = scope.args(arg, 3)
    return lambda variables: then(variables) if truthy(test(variables)) else otherwise(variables)


def _if_null(arg: Any, scope: Scope) -> Evaluator:
    items = scope.args(arg, 2, 10_000)
    *candidates, replacement = items

    def evaluate(variables: dict[str, Any]) -> Any:
        for candidate in candidates:
            value = candidate(variables)
            if value is not None and value is not MISSING:
                return value
        return replacement(variables)
    return evaluate


def _switch(arg: Any, scope: Scope) -> Evaluator:
    named = scope.named(arg, ("branches",), ("default",))
    if not is_array(named["branches"]):
        raise scope.error("$switch expected an array for 'branches'")
    branches = []
    for index, branch in enumerate(named["branches"]):
        where = scope.at("branches").at(index)
        case = where.named(branch, ("case", "then"))
        branches.append((where.compile(case["case"], "case"), where.compile(case["then"],
                                                                             "then")))
    default = scope.compile(named["default"], "default") if "default" in named else None

    def evaluate(variables: dict[str, Any]) -> Any:
        for case, then in branches:
            if truthy(case(variables)):
                return then(variables)
        if default is None:
            raise fail("$switch", "could not find a matching branch for an input, and no "
                       "default was specified")
        return default(variables)
    return evaluate


def _let(arg: Any, scope: Scope) -> Evaluator:
    named = scope.named(arg, ("vars", "in"))
    if not isinstance(named["vars"], dict):
        raise scope.error("$let: 'vars' must be an object")
    bindings = [(scope.variable_name(name), scope.at("vars").compile(spec, name))
                for name, spec in named["vars"].items()]
    body = scope.with_variables(name for name, _ in bindings).compile(named["in"], "in")

    def evaluate(variables: dict[str, Any]) -> Any:
        values = [(name, compute(variables)) for name, compute in bindings]
        saved = [(name, variables.get(name, MISSING)) for name, _ in values]
        variables.update(values)
        result = body(variables)
        for name, old in saved:
            if old is MISSING:
                variables.pop(name, None)
            else:
                variables[name] = old
        return result
    return evaluate


OPERATORS: dict[str, Builder] = {
    "$and": _and,
    "$or": _or,
    "$not": _not,
    "$eq": _comparison(operator.eq, lambda order: order == 0),
    "$ne": _comparison(operator.ne, lambda order: order != 0),
    "$gt": _comparison(operator.gt, lambda order: order > 0),
    "$gte": _comparison(operator.ge, lambda order: order >= 0),
    "$lt": _comparison(operator.lt, lambda order: order < 0),
    "$lte": _comparison(operator.le, lambda order: order <= 0),
    "$cmp": _cmp,
    "$cond": _cond,
    "$ifNull": _if_null,
    "$switch": _switch,
    "$let": _let,
}
