"""The rules a user's filter pipeline must follow (``filters.md``), checked at creation.

- a JSON array of stages, each one of ``$match``, ``$project``, ``$addFields``/``$set``,
  ``$unset``, ``$sort``, ``$limit``, ``$group`` (these three over the batch's documents);
  at least one ``$match``; the last stage a ``$project`` keeping ``objectId``;
- refused anywhere, however deeply nested: the stages and operators that run code, write,
  join or change the document count (``FORBIDDEN``); any operator the evaluator does not
  implement is refused when compiling, with its path.
"""

from __future__ import annotations

import json
from decimal import InvalidOperation
from typing import Any

from bson import Decimal128, Int64

from boom_flow.core.regex_safety import find_unsafe_regex
from boom_flow.filters.mql.errors import PipelineError
from boom_flow.filters.mql.projection import EXCLUDE, INCLUDE, parse_tree

FILTER_STAGES = ("$match", "$project", "$addFields", "$set", "$unset", "$sort", "$limit",
                 "$group")
FORBIDDEN = frozenset({
    "$where", "$function", "$accumulator", "$out", "$merge", "$lookup", "$unionWith",
    "$graphLookup", "$unwind",
})


#: Extended JSON number wrappers a pipeline may use for constants of a BSON type
#: (``{"$numberDecimal": "0.1"}``), as mongosh and the drivers write them.
EXTENDED_NUMBERS: dict[str, Any] = {
    "$numberDecimal": Decimal128, "$numberLong": lambda text: Int64(int(text)),
    "$numberInt": lambda text: int(text), "$numberDouble": float,
}


def parse_pipeline(source: str | bytes | list) -> list[dict[str, Any]]:
    """JSON text (or an already-parsed list) -> the list of stages; PipelineError if not
    an array of objects. Extended JSON numbers become their BSON types."""
    if isinstance(source, (str, bytes, bytearray)):
        try:
            parsed = json.loads(source)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise PipelineError(f"the pipeline is not valid JSON: {error}") from error
    else:
        parsed = source
    if not isinstance(parsed, list):
        raise PipelineError(f"a pipeline must be a JSON array of stages, not "
                            f"{type(parsed).__name__}", path="pipeline")
    for index, stage in enumerate(parsed):
        if not isinstance(stage, dict):
            raise PipelineError("each stage must be an object", path=f"pipeline[{index}]")
    return [_bson_numbers(stage, f"pipeline[{index}]") for index, stage in enumerate(parsed)]


def _bson_numbers(value: Any, path: str) -> Any:
    """``value`` with every ``{"$numberDecimal": "..."}`` (and Long, Int, Double) made
    the BSON value it stands for."""
    if isinstance(value, dict):
        if len(value) == 1:
            (key, text), = value.items()
            convert = EXTENDED_NUMBERS.get(key)
            if convert is not None:
                try:
                    return convert(text)
                except (TypeError, ValueError, ArithmeticError, InvalidOperation) as error:
                    raise PipelineError(f"{key} needs a number as a string, not {text!r}",
                                        operator=key, path=f"{path}.{key}") from error
        return {key: _bson_numbers(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_bson_numbers(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def find_forbidden(value: Any, path: str) -> None:
    """Raise on the first forbidden operator anywhere inside ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if key in FORBIDDEN:
                raise PipelineError(f"{key} is not allowed in a filter", operator=key,
                                    path=where)
            find_forbidden(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            find_forbidden(item, f"{path}[{index}]")


def validate_filter_pipeline(pipeline: list[dict[str, Any]]) -> None:
    """The filter-specific rules of ``filters.md`` (operators are checked by compiling)."""
    pipeline = parse_pipeline(pipeline)
    if not pipeline:
        raise PipelineError("a filter pipeline cannot be empty", path="pipeline")
    find_forbidden(pipeline, "pipeline")
    # A filter runs on every alert of the stream: a pattern that backtracks without
    # bound is refused here, once, rather than failing alert after alert on a worker.
    unsafe = find_unsafe_regex(pipeline, "pipeline")
    if unsafe:
        where, _, reason = unsafe[0].partition(": ")
        raise PipelineError(f"unsafe regular expression: {reason}", path=where)
    for index, stage in enumerate(pipeline):
        path = f"pipeline[{index}]"
        if len(stage) != 1:
            raise PipelineError("each stage must be an object with exactly one field",
                                path=path)
        (name,) = stage
        if name not in FILTER_STAGES:
            raise PipelineError(f"stage {name} is not allowed in a filter (allowed: "
                                f"{', '.join(FILTER_STAGES)})", operator=name,
                                path=f"{path}.{name}")
    if not any("$match" in stage for stage in pipeline):
        raise PipelineError("a filter needs at least one $match stage", path="pipeline")
    last = len(pipeline) - 1
    if "$project" not in pipeline[last]:
        raise PipelineError("the last stage of a filter must be a $project",
                            path=f"pipeline[{last}]")
    _check_keeps_object_id(pipeline[last]["$project"], f"pipeline[{last}].$project")


def _check_keeps_object_id(spec: Any, path: str) -> None:
    if not isinstance(spec, dict) or not spec:
        raise PipelineError("$project specification must be a non-empty object", path=path)
    tree = parse_tree(spec, path, lambda value, where: _mode(value))
    kept = tree.get("objectId")
    leaves = [value for key, value in tree.items() if key != "_id"]
    excluding = bool(leaves) and all(value is EXCLUDE for value in leaves)
    if kept is EXCLUDE or isinstance(kept, dict) or (kept is None and not excluding):
        raise PipelineError("the final $project must keep objectId (objectId: 1)",
                            operator="$project", path=path)


def _mode(value: Any) -> Any:
    """Just enough of a projection value to know whether it includes or excludes."""
    if isinstance(value, (bool, int, float)):
        return INCLUDE if value else EXCLUDE
    if isinstance(value, dict) and value and not next(iter(value)).startswith("$"):
        return {key: _mode(item) for key, item in value.items()}
    return INCLUDE
