"""``$sort``, ``$limit`` and ``$group``: stages over all the documents at once.

Every other stage maps one document to one document or none; these change the order,
the count, or merge documents, so they see the whole list. A filter runs on the
documents of one batch (the micro-batch live, a chunk in a backtest), so here "all the
documents" means those of the batch that reached the stage.

Each document carries its ``origin`` (its position in the input) through the pipeline,
so that an output is still the result of one alert: ``$sort`` and ``$limit`` keep the
origins; a ``$group`` output takes the origin of its group's last member in the
stage's input order (the alert the group's result is reported for).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import Decimal128

from boom_flow.filters.mql.errors import EvaluationError, PipelineError
from boom_flow.filters.mql.expressions import compile_expression, root_scope
from boom_flow.filters.mql.paths import query_values, split
from boom_flow.filters.mql.scope import Evaluator
from boom_flow.filters.mql.sets import average, distinct, extreme, total
from boom_flow.filters.mql.values import MISSING, compare, is_integral, is_number

Row = tuple[int, dict[str, Any]]
#: Errors of single documents met by a batch stage: (origin, error).
Failures = list[tuple[int, EvaluationError]]


class BatchStage:
    """A stage over the list of rows that reached it."""

    name = ""

    def rows(self, rows: list[Row], failures: Failures) -> list[Row]:
        raise NotImplementedError


@dataclass(frozen=True)
class Sort(BatchStage):
    """``$sort``: by each key in turn; an array sorts by its smallest element ascending,
    its largest descending; null and missing sort together, below everything."""

    keys: tuple[tuple[tuple[str, ...], int], ...]
    name = "$sort"

    def rows(self, rows: list[Row], failures: Failures) -> list[Row]:
        def order(left: Row, right: Row) -> int:
            for parts, direction in self.keys:
                found = compare(_sort_key(left[1], parts, direction),
                                _sort_key(right[1], parts, direction))
                if found:
                    return found * direction
            return 0
        return sorted(rows, key=functools.cmp_to_key(order))  # stable: input order on ties


def _sort_key(doc: dict[str, Any], parts: tuple[str, ...], direction: int) -> Any:
    values = []
    for value in query_values(doc, parts):
        if type(value) is list:
            if not value:
                values.append(_EMPTY)
            values.extend(value)
        else:
            values.append(None if value is MISSING else value)
    if not values:
        return None
    return functools.reduce(lambda a, b: b if compare(b, a) * direction < 0 else a, values)


#: An empty array's sort key: below null (``compare`` puts missing below null).
_EMPTY: Any = MISSING


@dataclass(frozen=True)
class Limit(BatchStage):
    """``$limit``: the first ``count`` rows."""

    count: int
    name = "$limit"

    def rows(self, rows: list[Row], failures: Failures) -> list[Row]:
        return rows[:self.count]


Accumulate = Callable[[list[Any]], Any]
_ACCUMULATORS: dict[str, Accumulate] = {
    "$sum": total,
    "$avg": average,
    "$min": lambda values: extreme(values, -1),
    "$max": lambda values: extreme(values, 1),
    "$first": lambda values: None if values[0] is MISSING else values[0],
    "$last": lambda values: None if values[-1] is MISSING else values[-1],
    "$push": lambda values: [v for v in values if v is not MISSING],
    "$addToSet": lambda values: distinct([v for v in values if v is not MISSING]),
}


@dataclass(frozen=True)
class Group(BatchStage):
    """``$group``: one output per distinct ``_id`` value (null and missing are one
    group), in order of first appearance, with the accumulated fields."""

    key: Evaluator
    fields: tuple[tuple[str, str, Evaluator | None], ...]
    name = "$group"

    def rows(self, rows: list[Row], failures: Failures) -> list[Row]:
        groups: dict[Any, tuple[Any, list[Row], list[list[Any]]]] = {}
        for origin, doc in rows:
            variables = {"CURRENT": doc, "ROOT": doc}
            try:
                key = self.key(variables)
                inputs = [MISSING if evaluate is None else evaluate(variables)
                          for _, _, evaluate in self.fields]
            except EvaluationError as error:
                failures.append((origin, error))
                continue
            key = None if key is MISSING else key
            _, members, values = groups.setdefault(hashable(key), (key, [], [
                [] for _ in self.fields]))
            members.append((origin, doc))
            for collected, value in zip(values, inputs, strict=True):
                collected.append(value)
        out = []
        for key, members, values in groups.values():
            document: dict[str, Any] = {"_id": key}
            for (name, accumulator, _), collected in zip(self.fields, values, strict=True):
                document[name] = (len(collected) if accumulator == "$count"
                                  else _ACCUMULATORS[accumulator](collected))
            out.append((members[-1][0], document))
        return out


def hashable(value: Any) -> Any:
    """A key equal for the values MongoDB's ``$group`` puts together (``1``, ``1.0`` and
    ``NumberDecimal("1")`` are one group; field order in documents counts)."""
    if value is None or value is MISSING:
        return ("null",)
    if type(value) is bool:
        return ("bool", value)
    if is_number(value):
        number = value.to_decimal() if type(value) is Decimal128 else value
        return ("number", number if number == number else "nan")
    if isinstance(value, dict):
        return ("object", tuple((k, hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("array", tuple(hashable(v) for v in value))
    return (type(value).__name__, repr(value))


def compile_sort(spec: Any, path: str) -> Sort:
    if not isinstance(spec, dict) or not spec:
        raise PipelineError("$sort needs a non-empty object of field: 1 or -1", path=path)
    keys = []
    for field, direction in spec.items():
        if type(direction) not in (int, float) or direction not in (1, -1):
            raise PipelineError(f"$sort key ordering must be 1 (ascending) or -1 "
                                f"(descending), not {direction!r}", operator="$sort",
                                path=f"{path}.{field}")
        if not field or any(not part for part in split(field)) or field.startswith("$"):
            raise PipelineError(f"invalid $sort field {field!r}", operator="$sort", path=path)
        keys.append((split(field), int(direction)))
    return Sort(tuple(keys))


def compile_limit(spec: Any, path: str) -> Limit:
    if not is_number(spec) or type(spec) is bool or not is_integral(spec) or spec <= 0:
        raise PipelineError(f"the $limit must be a positive whole number, not {spec!r}",
                            operator="$limit", path=path)
    return Limit(int(spec if type(spec) is not Decimal128 else spec.to_decimal()))


def compile_group(spec: Any, path: str) -> Group:
    if not isinstance(spec, dict) or "_id" not in spec:
        raise PipelineError("a $group specification must include an _id", operator="$group",
                            path=path)
    key = compile_expression(spec["_id"], root_scope(f"{path}._id"))
    fields = []
    for name, accumulation in spec.items():
        if name == "_id":
            continue
        where = f"{path}.{name}"
        if "." in name or name.startswith("$"):
            raise PipelineError(f"invalid $group field name {name!r}", path=where)
        if not isinstance(accumulation, dict) or len(accumulation) != 1:
            raise PipelineError(f"the field {name!r} must be an accumulator object",
                                path=where)
        (accumulator, argument), = accumulation.items()
        if accumulator == "$count":
            if argument != {}:
                raise PipelineError("$count takes {}", operator="$count", path=where)
            fields.append((name, accumulator, None))
            continue
        if accumulator not in _ACCUMULATORS:
            raise PipelineError(f"unsupported $group accumulator {accumulator}",
                                operator=accumulator, path=f"{where}.{accumulator}")
        fields.append((name, accumulator, compile_expression(
            argument, root_scope(f"{where}.{accumulator}"))))
    return Group(key, tuple(fields))


BATCH_STAGE_COMPILERS: dict[str, Callable[[Any, str], BatchStage]] = {
    "$sort": compile_sort, "$limit": compile_limit, "$group": compile_group,
}
