"""The query language of ``$match``, compiled once into ``doc -> bool`` closures.

Semantics (MongoDB's, not the expression language's):
- a condition on a path holds if it holds for ANY value the path reaches
  (``paths.query_values``), and a value that is an array also matches through its
  elements (``{tags: "x"}`` matches ``tags: ["x", "y"]``; ``{a: [1, 2]}`` matches the
  whole array); ``$ne``/``$nin``/``$not`` are the negation of the whole condition;
- ``{a: null}`` matches null and missing; ``$exists`` tells them apart;
- ``$gt``/``$lt``... compare only within a type bracket (numbers with numbers, strings
  with strings): ``{a: {$lt: 5}}`` never matches a string or null; NaN matches only
  ``$eq``/``$gte``/``$lte`` NaN;
- ``$expr`` evaluates an aggregation expression on the document, truthiness decides.
"""

from __future__ import annotations

import math
import operator as op
import re
from collections.abc import Callable, Sequence
from typing import Any

from bson import Decimal128, Int64, Regex

from boom_flow.filters.mql.errors import PipelineError
from boom_flow.filters.mql.expressions import compile_expression, root_scope
from boom_flow.filters.mql.paths import DESCEND, Whole, fast_getter, query_values, split
from boom_flow.filters.mql.regex import compile_regex, search
from boom_flow.filters.mql.values import (
    MISSING,
    NUMBER,
    TYPE_ALIASES,
    TYPE_NUMBERS,
    compare,
    is_number,
    rank,
    regex_parts,
    truthy,
    type_name,
)

Predicate = Callable[[Any], bool]
ValueTest = Callable[[Any], bool]
ValuesTest = Callable[[Sequence[Any]], bool]


def compile_query(spec: Any, path: str) -> Predicate:
    """``spec`` (a ``$match`` document) -> a predicate on documents."""
    if not isinstance(spec, dict):
        raise PipelineError("a query must be an object", path=path)
    predicates = []
    for key, value in spec.items():
        where = f"{path}.{key}"
        if key.startswith("$"):
            predicate = _top_level(key, value, where)
            if predicate is not None:
                predicates.append(predicate)
        else:
            predicates.append(_field(key, value, where))
    return _all(predicates)


def _all(predicates: list[Predicate]) -> Predicate:
    if not predicates:
        return lambda doc: True
    if len(predicates) == 1:
        return predicates[0]

    def every(doc: Any) -> bool:
        for predicate in predicates:  # noqa: SIM110 (hot path: faster than any/all on a generator)
            if not predicate(doc):
                return False
        return True
    return every


def _top_level(operator: str, value: Any, path: str) -> Predicate | None:
    if operator in ("$and", "$or", "$nor"):
        if not isinstance(value, list) or not value:
            raise PipelineError(f"{operator} argument must be a non-empty array",
                                operator=operator, path=path)
        clauses = [compile_query(clause, f"{path}[{index}]")
                   for index, clause in enumerate(value)]
        if operator == "$and":
            return _all(clauses)
        if operator == "$or":
            return lambda doc: any(clause(doc) for clause in clauses)
        return lambda doc: not any(clause(doc) for clause in clauses)
    if operator == "$expr":
        expression = compile_expression(value, root_scope(path))
        return lambda doc: truthy(expression({"CURRENT": doc, "ROOT": doc}))
    if operator == "$comment":
        return None
    raise PipelineError(f"unsupported query operator {operator}", operator=operator, path=path)


def _field(field: str, condition: Any, path: str) -> Predicate:
    parts = split(field)
    if any(not part for part in parts):
        raise PipelineError(f"invalid field path '{field}'", path=path)
    if isinstance(condition, dict) and condition and next(iter(condition)).startswith("$"):
        tests = _operators(condition, path)
    else:
        tests = [any_of(expanded(equality(condition)))]
    getter = fast_getter(parts)
    if len(tests) == 1:
        (test,) = tests
        one = getattr(test, "single", None)
        if one is not None:
            def scalar_first(doc: Any) -> bool:
                value = getter(doc)
                return one(value) if value is not DESCEND else test(query_values(doc, parts))
            return scalar_first

        def single(doc: Any) -> bool:
            value = getter(doc)
            return test((value,) if value is not DESCEND else query_values(doc, parts))
        return single

    def several(doc: Any) -> bool:
        value = getter(doc)
        values = (value,) if value is not DESCEND else query_values(doc, parts)
        for test in tests:  # noqa: SIM110 (hot path: faster than any/all on a generator)
            if not test(values):
                return False
        return True
    return several


def _operators(condition: dict[str, Any], path: str) -> list[ValuesTest]:
    """The tests of an operator object (``{$gt: 0.5, $lt: 8}``), all of which must hold."""
    tests = []
    options = condition.get("$options")
    if options is not None and "$regex" not in condition:
        raise PipelineError("$options needs a $regex", operator="$options", path=path)
    for operator, argument in condition.items():
        where = f"{path}.{operator}"
        if not operator.startswith("$"):
            raise PipelineError(f"unknown operator {operator} among query operators",
                                operator=operator, path=where)
        if operator == "$options":
            continue
        if operator == "$regex":
            tests.append(any_of(expanded(_regex(argument, options, where))))
            continue
        build = _OPERATORS.get(operator)
        if build is None:
            raise PipelineError(f"unsupported query operator {operator}", operator=operator,
                                path=where)
        tests.append(build(argument, where))
    return tests


def any_of(test: ValueTest) -> ValuesTest:
    def any_value(values: Sequence[Any]) -> bool:
        for value in values:  # noqa: SIM110 (hot path: faster than any/all on a generator)
            if test(value):
                return True
        return False
    any_value.single = test  # type: ignore[attr-defined]  # the test of one value
    return any_value


def _none(test: ValueTest) -> ValuesTest:
    check = any_of(test)
    return lambda values: not check(values)


def expanded(test: ValueTest) -> ValueTest:
    """Also try the elements of an array value (one level, as MongoDB does)."""
    def with_elements(value: Any) -> bool:
        if type(value) is list:
            if test(value):
                return True
            for element in value:  # noqa: SIM110 (hot path: faster than any/all on a generator)
                if test(element):
                    return True
            return False
        return test(value)
    return with_elements


def _is_nan(value: Any) -> bool:
    if type(value) is float:
        return math.isnan(value)
    return type(value) is Decimal128 and value.to_decimal().is_nan()


def equality(target: Any) -> ValueTest:
    """``value == target`` in the query language (null also matches missing)."""
    if target is None:
        return lambda value: value is None or value is MISSING
    kind = type(target)
    if isinstance(target, (re.Pattern, Regex)):
        return _regex_or_equal(target)
    if kind is bool:
        return lambda value: type(value) is bool and value == target
    if kind is str:
        return lambda value: type(value) is str and value == target
    if kind in (int, float, Int64) and not _is_nan(target):
        def number_equal(value: Any) -> bool:
            cls = type(value)
            if cls is float or cls is int or cls is Int64:
                return value == target
            return cls is Decimal128 and compare(value, target) == 0
        return number_equal
    target_rank = rank(target)
    return lambda value: rank(value) == target_rank and compare(value, target) == 0


def _regex_or_equal(target: Any) -> ValueTest:
    """An implicit ``{a: /x/}``: a string matching it, or an equal regex value."""
    pattern, flags = regex_parts(target)
    matcher = _compile_regex(pattern, flags, "")
    return lambda value: (type(value) is str and search(matcher, value) is not None) or (
        isinstance(value, (re.Pattern, Regex)) and regex_parts(value) == (pattern, flags))


_ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    "$gt": lambda order: order > 0, "$gte": lambda order: order >= 0,
    "$lt": lambda order: order < 0, "$lte": lambda order: order <= 0,
}


def ordering(operator: str, target: Any) -> ValueTest:
    """``$gt``/``$gte``/``$lt``/``$lte`` with type bracketing."""
    holds = _ORDER_TESTS[operator]
    inclusive = operator in ("$gte", "$lte")
    if target is None or target is MISSING:
        if inclusive:
            return lambda value: value is None or value is MISSING
        return lambda value: False
    if _is_nan(target):
        if inclusive:
            return _is_nan
        return lambda value: False
    target_rank = rank(target)
    if target_rank == NUMBER and type(target) is not Decimal128:
        native = {"$gt": op.gt, "$gte": op.ge, "$lt": op.lt, "$lte": op.le}[operator]

        def number_order(value: Any) -> bool:
            cls = type(value)
            if cls is float or cls is int or cls is Int64:
                return native(value, target)  # NaN compares false
            return cls is Decimal128 and not _is_nan(value) and holds(compare(value, target))
        return number_order

    def bracketed(value: Any) -> bool:
        if rank(value) != target_rank or _is_nan(value):
            return False
        return holds(compare(value, target))
    return bracketed


def _comparison(operator: str) -> Callable[[Any, str], ValuesTest]:
    def build(argument: Any, path: str) -> ValuesTest:
        return any_of(expanded(ordering(operator, argument)))
    return build


def _eq(argument: Any, path: str) -> ValuesTest:
    if isinstance(argument, (re.Pattern, Regex)):
        pattern = regex_parts(argument)
        return any_of(expanded(lambda value: isinstance(value, (re.Pattern, Regex))
                            and regex_parts(value) == pattern))
    return any_of(expanded(equality(argument)))


def _ne(argument: Any, path: str) -> ValuesTest:
    return _none(expanded(equality(argument)))


def _membership(argument: Any, path: str) -> ValueTest:
    if not isinstance(argument, list):
        raise PipelineError("$in/$nin needs an array", path=path)
    tests = [equality(item) for item in argument]
    for item in argument:
        if isinstance(item, dict) and any(key.startswith("$") for key in item):
            raise PipelineError("cannot nest $ under $in", path=path)

    def member(value: Any) -> bool:
        for test in tests:  # noqa: SIM110 (hot path: faster than any/all on a generator)
            if test(value):
                return True
        return False
    return expanded(member)


def _in(argument: Any, path: str) -> ValuesTest:
    return any_of(_membership(argument, path))


def _nin(argument: Any, path: str) -> ValuesTest:
    return _none(_membership(argument, path))


def _exists(argument: Any, path: str) -> ValuesTest:
    wanted = truthy(argument)
    return lambda values: any(value is not MISSING for value in values) == wanted


def _type_matcher(argument: Any, path: str) -> ValueTest:
    names = argument if isinstance(argument, list) else [argument]
    wanted = set()
    for name in names:
        if isinstance(name, str) and (name in TYPE_NUMBERS or name == "number"):
            wanted.add(name)
        elif is_number(name) and not isinstance(name, bool) and int(name) in TYPE_ALIASES:
            wanted.add(TYPE_ALIASES[int(name)])
        else:
            raise PipelineError(f"unknown type name alias: {name!r}", operator="$type",
                                path=path)

    def matches(value: Any) -> bool:
        if value is MISSING:
            return False
        name = type_name(value)
        return name in wanted or ("number" in wanted and is_number(value))
    return matches


def _type(argument: Any, path: str) -> ValuesTest:
    return any_of(expanded(_type_matcher(argument, path)))


def _size(argument: Any, path: str) -> ValuesTest:
    if not is_number(argument) or isinstance(argument, bool) or argument != int(argument):
        raise PipelineError("$size needs a whole number", operator="$size", path=path)
    size = int(argument)
    return any_of(lambda value: isinstance(value, list) and len(value) == size)


def _element_match(argument: Any, path: str) -> ValueTest:
    """``$elemMatch``: some element of an array satisfies the whole sub-condition."""
    if not isinstance(argument, dict):
        raise PipelineError("$elemMatch needs an object", operator="$elemMatch", path=path)
    logical = {"$and", "$or", "$nor", "$expr", "$where", "$text", "$comment"}
    if argument and all(key.startswith("$") and key not in logical for key in argument):
        tests = _operators(argument, path)

        def element_test(element: Any) -> bool:
            # an element that is itself an array is compared whole, not looked into
            values = (Whole(element) if type(element) is list else element,)
            return all(test(values) for test in tests)
    else:
        query = compile_query(argument, path)

        def element_test(element: Any) -> bool:
            return isinstance(element, dict) and query(element)
    return lambda value: isinstance(value, list) and any(element_test(e) for e in value)


def _elem_match(argument: Any, path: str) -> ValuesTest:
    return any_of(_element_match(argument, path))


def _all_of(argument: Any, path: str) -> ValuesTest:
    if not isinstance(argument, list):
        raise PipelineError("$all needs an array", operator="$all", path=path)
    if not argument:
        return lambda values: False
    tests = []
    for index, item in enumerate(argument):
        if isinstance(item, dict) and "$elemMatch" in item:
            tests.append(any_of(_element_match(item["$elemMatch"], f"{path}[{index}]")))
        else:
            tests.append(any_of(expanded(equality(item))))
    return lambda values: all(test(values) for test in tests)


def _not(argument: Any, path: str) -> ValuesTest:
    if isinstance(argument, (re.Pattern, Regex)):
        return _none(expanded(_regex_or_equal(argument)))
    if not isinstance(argument, dict) or not argument:
        raise PipelineError("$not needs a regex or a non-empty operator object",
                            operator="$not", path=path)
    tests = _operators(argument, path)
    return lambda values: not all(test(values) for test in tests)


def _compile_regex(pattern: str, options: str, path: str) -> Any:
    """PCRE2 with MongoDB's options (``regex.compile_regex``), not Python's ``re``."""
    return compile_regex(pattern, options, "$regex", path)


def _regex(argument: Any, options: Any, path: str) -> ValueTest:
    if isinstance(argument, (re.Pattern, Regex)):
        pattern, own = regex_parts(argument)
    elif isinstance(argument, str):
        pattern, own = argument, ""
    else:
        raise PipelineError("$regex has to be a string", operator="$regex", path=path)
    if options is not None and not isinstance(options, str):
        raise PipelineError("$options has to be a string", operator="$options", path=path)
    matcher = _compile_regex(pattern, own + (options or ""), path)
    return lambda value: type(value) is str and search(matcher, value) is not None


def _mod(argument: Any, path: str) -> ValuesTest:
    if (not isinstance(argument, list) or len(argument) != 2
            or not all(is_number(a) and not isinstance(a, bool) for a in argument)):
        raise PipelineError("$mod needs [divisor, remainder]", operator="$mod", path=path)
    divisor, remainder = (int(float(a)) if not isinstance(a, int) else int(a)
                          for a in argument)
    if divisor == 0:
        raise PipelineError("$mod: divisor cannot be 0", operator="$mod", path=path)

    def test(value: Any) -> bool:
        if not is_number(value) or isinstance(value, bool):
            return False
        number = float(value.to_decimal()) if type(value) is Decimal128 else value
        if isinstance(number, float):
            if not math.isfinite(number):
                return False
            number = int(number)
        result = abs(number) % abs(divisor)
        return (-result if number < 0 else result) == remainder
    return any_of(expanded(test))


_OPERATORS: dict[str, Callable[[Any, str], ValuesTest]] = {
    "$eq": _eq, "$ne": _ne, "$gt": _comparison("$gt"), "$gte": _comparison("$gte"),
    "$lt": _comparison("$lt"), "$lte": _comparison("$lte"), "$in": _in, "$nin": _nin,
    "$exists": _exists, "$type": _type, "$size": _size, "$elemMatch": _elem_match,
    "$all": _all_of, "$not": _not, "$mod": _mod,
}
#: Every query operator this evaluator implements.
QUERY_OPERATORS = frozenset({*_OPERATORS, "$regex", "$options", "$and", "$or", "$nor",
                             "$expr", "$comment"})
