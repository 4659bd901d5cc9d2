"""The packaged defaults and the schema stay in sync (as distributed's config test does)."""

from __future__ import annotations

from typing import Any, get_origin

from pydantic import BaseModel

from boom_flow.config import Settings, packaged_defaults
from boom_flow.config.model import SECRET_FIELDS


def _keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        keys.add(prefix + key)
        # A free mapping (dask.config) holds keys of its own, not settings.
        if isinstance(value, dict) and value and prefix + key not in _MAPPINGS:
            keys |= _keys(value, prefix + key + ".")
    return keys


def _schema_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _schema_keys(annotation, prefix + name + ".")
    return keys


def _mappings(model: type[BaseModel], prefix: str = "") -> set[str]:
    found = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if get_origin(annotation) is dict:
            found.add(prefix + name)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= _mappings(annotation, prefix + name + ".")
    return found


_MAPPINGS = _mappings(Settings)


def test_every_schema_key_has_a_packaged_default_and_vice_versa() -> None:
    assert _keys(packaged_defaults()) == _schema_keys(Settings)


def test_packaged_defaults_hold_no_secret() -> None:
    def secrets(data: dict[str, Any]) -> list[Any]:
        found = []
        for key, value in data.items():
            if isinstance(value, dict):
                found += secrets(value)
            elif key in SECRET_FIELDS or key.removesuffix("_file") in SECRET_FIELDS:
                found.append((key, value))
        return found

    assert secrets(packaged_defaults())
    assert all(value is None for _, value in secrets(packaged_defaults()))
