"""A leak detector: nothing of a hidden programid anywhere in an answer."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def hidden_values(value: Any, allowed: Collection[int], hidden_ids: Collection[Any],
                  path: str = "") -> list[str]:
    """Paths in ``value`` (any JSON-like structure) that hold a programid outside
    ``allowed`` or one of ``hidden_ids`` (as a value or as a key)."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in hidden_ids:
                found.append(f"{path}.{key}")
            if key == "programid" and item not in allowed:
                found.append(f"{path}.programid={item}")
            found += hidden_values(item, allowed, hidden_ids, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += hidden_values(item, allowed, hidden_ids, f"{path}[{i}]")
    elif not isinstance(value, bool) and value in hidden_ids:
        found.append(f"{path}={value!r}")
    return found


def assert_no_leak(value: Any, allowed: Collection[int], hidden_ids: Collection[Any]) -> None:
    leaks = hidden_values(value, allowed, hidden_ids)
    assert not leaks, leaks[:10]
