"""Dotted paths, resolved the two ways MongoDB resolves them.

- In the query language (``$match``), ``a.b`` through an array ``a`` looks into every
  element that is a document, and a numeric component also selects a position:
  ``query_values`` returns every value the path reaches (``MISSING`` where a document
  lacks the field); the matchers then also look into a leaf array's elements.
- In aggregation expressions (``"$a.b"``), a path through an array maps over it and
  yields an array of the values found (missing ones dropped, nested arrays kept);
  numeric components are plain field names: ``expression_value``.

Both have a fast path for the common case of documents nested in documents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boom_flow.filters.mql.values import MISSING


class Whole(list):
    """An array reached by position (``a.0``) at the end of a query path: MongoDB matches
    it as a whole and does not look into its elements."""


class _Descend:
    """Marker: the fast walk met an array and the full traversal must run."""


DESCEND: Any = _Descend()


def split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def fast_getter(parts: tuple[str, ...]) -> Callable[[Any], Any]:
    """``doc -> value`` through documents only; ``DESCEND`` when an array is in the way."""
    if len(parts) == 1:
        (first,) = parts

        def get_one(doc: Any) -> Any:
            value = doc.get(first, MISSING)
            return DESCEND if type(value) is list else value

        return get_one
    if len(parts) == 2:
        first, second = parts

        def get_two(doc: Any) -> Any:
            value = doc.get(first, MISSING)
            kind = type(value)
            if kind is dict:
                value = value.get(second, MISSING)
                return DESCEND if type(value) is list else value
            if kind is list:
                return DESCEND
            return value.get(second, MISSING) if isinstance(value, dict) else MISSING

        return get_two

    def get_many(doc: Any) -> Any:
        value = doc
        for part in parts:
            kind = type(value)
            if kind is dict or (kind is not list and isinstance(value, dict)):
                value = value.get(part, MISSING)
            elif kind is list:
                return DESCEND
            else:
                return MISSING
        return DESCEND if type(value) is list else value

    return get_many


def query_values(doc: Any, parts: tuple[str, ...]) -> list[Any]:
    """Every value a query path reaches in ``doc`` (see the module docstring)."""
    found: list[Any] = []
    _collect(doc, parts, 0, found)
    return found


def _collect(value: Any, parts: tuple[str, ...], index: int, found: list[Any]) -> None:
    if index == len(parts):
        found.append(value)
        return
    if isinstance(value, dict):
        _collect(value.get(parts[index], MISSING), parts, index + 1, found)
        return
    if not isinstance(value, list):
        found.append(MISSING)
        return
    part = parts[index]
    if part.isdigit():
        position = int(part)
        if position < len(value):
            element = value[position]
            if index + 1 == len(parts) and type(element) is list:
                element = Whole(element)
            _collect(element, parts, index + 1, found)
    for element in value:
        if isinstance(element, dict):
            _collect(element, parts, index, found)


def expression_value(value: Any, parts: tuple[str, ...]) -> Any:
    """The value of an aggregation field path below ``value`` (``MISSING`` if absent)."""
    for position, part in enumerate(parts):
        kind = type(value)
        if kind is dict:
            value = value.get(part, MISSING)
        elif kind is list:
            return _map_array(value, parts[position:])
        elif isinstance(value, dict):
            value = value.get(part, MISSING)
        else:
            return MISSING
    return value


def _map_array(array: list[Any], parts: tuple[str, ...]) -> list[Any]:
    mapped = []
    for element in array:
        if isinstance(element, dict):
            found = expression_value(element, parts)
            if found is not MISSING:
                mapped.append(found)
        elif isinstance(element, list):
            mapped.append(_map_array(element, parts))
    return mapped
