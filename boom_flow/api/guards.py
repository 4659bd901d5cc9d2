"""Guard rails every query passes, whoever sends it (api.md "Guard rails").

- Operators that write or run server-side code (``$out $merge $where $function
  $accumulator``) are refused anywhere in a body, at any depth.
- Pipelines may use only the stages listed in ``ALLOWED_STAGES`` (an allow-list: a
  stage the list does not know, such as ``$collStats`` or ``$currentOp``, cannot
  reach around the rules below), checked in nested pipelines too.
- The ``users`` and ``filters`` collections and ``system.*`` are never named by a
  query, neither as the catalog nor as the target of a ``$lookup``/``$unionWith``/
  ``$graphLookup``.
- Regular expressions (query ``$regex``, ``$regexMatch``/``$regexFind``/
  ``$regexFindAll``) must be ones a backtracking engine runs in bounded time
  (``boom_flow.core.regex_safety``): no server, embedded or MongoDB, can interrupt a
  match once started, so a catastrophic pattern would block every other user.
- Sizes are capped: ``limit``, the response's bytes, the time budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from boom_flow.api.encoding import dumps
from boom_flow.api.errors import ApiError, bad_request, forbidden, not_found, too_large
from boom_flow.core.regex_safety import find_unsafe_regex

FORBIDDEN_OPERATORS = frozenset({"$out", "$merge", "$where", "$function", "$accumulator"})
PROTECTED_COLLECTIONS = frozenset({"users", "filters"})
ALLOWED_STAGES = frozenset({
    "$match", "$project", "$addFields", "$set", "$unset", "$sort", "$limit", "$skip",
    "$count", "$group", "$unwind", "$lookup", "$unionWith", "$graphLookup", "$facet",
    "$bucket", "$bucketAuto", "$sortByCount", "$replaceRoot", "$replaceWith", "$sample",
    "$geoNear", "$redact", "$setWindowFields", "$densify", "$fill",
})
#: Stages that read another collection, and the key naming it.
JOIN_STAGES = {"$lookup": "from", "$unionWith": "coll", "$graphLookup": "from"}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$")


def refuse_forbidden(value: Any, path: str = "body") -> None:
    """Raise 403 naming the first forbidden operator found in ``value`` and its path,
    then 400 naming the first unsafe regular expression."""
    _refuse_operators(value, path)
    unsafe = find_unsafe_regex(value, path)
    if unsafe:
        raise bad_request(f"unsafe regular expression at {unsafe[0]}")


def _refuse_operators(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if key in FORBIDDEN_OPERATORS:
                raise forbidden(f"operator {key} is not allowed (at {where})")
            _refuse_operators(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_operators(item, f"{path}[{i}]")


def is_protected(name: str) -> bool:
    """True for names a query may never read (and for names that are no collection name)."""
    return (name in PROTECTED_COLLECTIONS or name.startswith("system.")
            or not _NAME.match(name))


def unknown_catalog(name: str) -> ApiError:
    """The one answer for a catalog that does not exist or that the user may not read
    (api.md: do not reveal which)."""
    return not_found(f"catalog {name!r} not found")


def stage_name(stage: Any, path: str) -> str:
    if not isinstance(stage, dict) or len(stage) != 1:
        raise bad_request(f"{path}: a stage is an object with exactly one key")
    name = next(iter(stage))
    if name not in ALLOWED_STAGES:
        raise forbidden(f"{path}: stage {name} is not allowed")
    return name


def join_target(name: str, spec: Any, path: str) -> str:
    """The collection a joining stage reads (a ``$unionWith`` may name it as a string)."""
    if name == "$unionWith" and isinstance(spec, str):
        target = spec
    elif isinstance(spec, dict):
        target = spec.get(JOIN_STAGES[name])
    else:
        raise bad_request(f"{path}: {name} takes an object")
    if not isinstance(target, str):
        raise bad_request(f"{path}: {name} must name its collection with a string")
    if is_protected(target):
        raise unknown_catalog(target)
    return target


def sub_pipelines(name: str, spec: Any) -> Iterator[tuple[str, list[Any]]]:
    """The nested pipelines of a stage, with the key holding each."""
    if name in ("$lookup", "$unionWith") and isinstance(spec, dict) and "pipeline" in spec:
        yield "pipeline", spec["pipeline"]
    elif name == "$facet" and isinstance(spec, dict):
        yield from spec.items()


def validate_pipeline(pipeline: Any, path: str = "pipeline") -> None:
    """Allowed stages only, no protected collection, at every depth."""
    if not isinstance(pipeline, list):
        raise bad_request(f"{path}: a pipeline is a list of stages")
    for i, stage in enumerate(pipeline):
        where = f"{path}[{i}]"
        name = stage_name(stage, where)
        spec = stage[name]
        if name in JOIN_STAGES:
            join_target(name, spec, where)
        for key, nested in sub_pipelines(name, spec):
            validate_pipeline(nested, f"{where}.{name}.{key}")


def check_limit(limit: int | None, cap: int) -> int:
    """The limit to apply: the request's, or the cap when it names none."""
    if limit is None or limit == 0:
        return cap
    if limit < 0:
        raise bad_request("limit must be positive")
    if limit > cap:
        raise too_large(f"limit {limit} exceeds the maximum of {cap} documents per query")
    return limit


def budget_ms(requested: int | None, default_ms: int, max_ms: int) -> int:
    """The query's time budget in ms."""
    if requested is None:
        return default_ms
    if requested <= 0 or requested > max_ms:
        raise bad_request(f"max_time_ms must be between 1 and {max_ms}")
    return requested


class SizeBudget:
    """Encodes documents one by one and stops as soon as the response would pass the
    byte cap (so an over-large answer is refused before it is held in memory whole)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    def encode(self, document: Any) -> bytes:
        data = dumps(document)
        self.used += len(data) + 1
        if self.used > self.max_bytes:
            raise too_large(f"the response exceeds {self.max_bytes} bytes; add a projection "
                            "or a smaller limit")
        return data

    def encode_all(self, documents: Iterable[Any]) -> list[bytes]:
        return [self.encode(document) for document in documents]
