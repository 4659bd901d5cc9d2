"""Rubin alert schemas by schema id: registry, then a local folder, then a package.

Rubin frames every Kafka message with a Confluent header (``0x00`` + 4-byte schema id,
``major * 100 + minor``) and writes the alert schemaless, so a packet can only be read
with a schema found elsewhere. Lookup order:

1. a Confluent-style schema registry (``GET {url}/schemas/ids/{id}`` ->
   ``{"schema": "<json>"}``), when a URL is configured;
2. a folder of schemas, one sub-folder per version, in either layout:
   ``{dir}/{major}_{minor}/`` or, as Rubin's ``lsst-alert-packet`` package ships them,
   ``{dir}/{major}/{minor}/``, holding ``lsst.v{major}_{minor}.alert.avsc`` (the record
   files there name each other, so they are loaded together by
   ``fastavro.schema.load_schema``);
3. the optional ``lsst-alert-packet`` package (GPL-3.0: imported lazily, only if
   installed, never a dependency), which ships ``schema/{major}/{minor}/``.

Each schema is parsed once. An id nobody knows is remembered for a while (so a burst
of such packets does not hammer the registry) and reported as ``UnknownSchema``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema

from boom_flow.surveys.base import record_fields
from boom_flow.surveys.container import WriterSchema
from boom_flow.surveys.peek import FieldPeek, compile_peek

_VERSION = re.compile(r"v(\d+)_(\d+)")


class UnknownSchema(LookupError):
    """No source could provide the schema; the message says what was tried."""


@dataclass(frozen=True)
class LsstSchemaInfo:
    """What a Rubin schema tells once: its version and the fields of its records."""

    version: str
    #: Fields of ``diaSource``: the candidate fields this version defines.
    source_fields: tuple[str, ...]
    #: Fields of ``diaObject`` (``nDiaSources``, ``firstDiaSourceMjdTai`` from 9.0 on).
    object_fields: tuple[str, ...]
    #: Reads ``diaSource.diaObjectId`` from a record's bytes (None: cannot be peeked).
    object_id: FieldPeek | None = None


def version_of_id(schema_id: int) -> str:
    """``701`` -> ``"7.1"``, ``1101`` -> ``"11.1"``."""
    return f"{schema_id // 100}.{schema_id % 100}"


def schema_file(root: Path, major: int, minor: int) -> Path:
    """The alert schema of ``major.minor`` under ``root``: in ``{major}_{minor}/`` or in
    ``{major}/{minor}/`` (Rubin's package layout), whichever exists; the first when
    neither does (for the message)."""
    name = f"lsst.v{major}_{minor}.alert.avsc"
    candidates = (root / f"{major}_{minor}" / name, root / str(major) / str(minor) / name)
    return next((path for path in candidates if path.is_file()), candidates[0])


def describe_schema(parsed: Any, version: str | None = None) -> LsstSchemaInfo:
    """The schema's facts; the version from its name (``lsst.v7_1.alert``) if not given."""
    if version is None:
        match = _VERSION.search(str(parsed.get("name", ""))) if isinstance(parsed, dict) else None
        version = f"{int(match[1])}.{int(match[2])}" if match else "unknown"
    return LsstSchemaInfo(version=version,
                          source_fields=record_fields(parsed, "diaSource"),
                          object_fields=record_fields(parsed, "diaObject"),
                          object_id=compile_peek(parsed, ("diaSource", "diaObjectId")))


class SchemaResolver:
    """Schema id -> parsed schema, from the configured sources, cached."""

    def __init__(self, registry_url: str | None = None, schema_dir: str | Path | None = None,
                 use_package: bool = True, timeout_s: float = 5.0,
                 retry_unknown_after_s: float = 60.0) -> None:
        self.registry_url = registry_url.rstrip("/") if registry_url else None
        self.schema_dir = Path(schema_dir) if schema_dir else None
        self.use_package = use_package
        self.timeout_s = timeout_s
        self.retry_unknown_after_s = retry_unknown_after_s
        self._schemas: dict[int, WriterSchema[LsstSchemaInfo]] = {}
        self._unknown: dict[int, tuple[float, str]] = {}
        # Worker threads share one resolver: one of them looks a new id up.
        self._lock = threading.Lock()
        #: How many schemas were parsed (one per id ever resolved).
        self.parse_count = 0

    def __len__(self) -> int:
        return len(self._schemas)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def get(self, schema_id: int) -> WriterSchema[LsstSchemaInfo]:
        schema = self._schemas.get(schema_id)
        if schema is not None:
            return schema
        with self._lock:
            return self._resolve(schema_id)

    def _resolve(self, schema_id: int) -> WriterSchema[LsstSchemaInfo]:
        schema = self._schemas.get(schema_id)
        if schema is not None:
            return schema
        failed = self._unknown.get(schema_id)
        if failed is not None and time.monotonic() - failed[0] < self.retry_unknown_after_s:
            raise UnknownSchema(failed[1])
        attempts: list[str] = []
        parsed = None
        for lookup in (self._from_registry, self._from_folder, self._from_package):
            parsed = lookup(schema_id, attempts)
            if parsed is not None:
                break
        if parsed is None:
            reason = f"unknown LSST schema id {schema_id}: " + "; ".join(attempts)
            self._unknown[schema_id] = (time.monotonic(), reason)
            raise UnknownSchema(reason)
        self.parse_count += 1
        schema = WriterSchema(parsed=parsed,
                              info=describe_schema(parsed, version_of_id(schema_id)))
        self._schemas[schema_id] = schema
        self._unknown.pop(schema_id, None)
        return schema

    def _from_registry(self, schema_id: int, attempts: list[str]) -> Any:
        if not self.registry_url:
            attempts.append("no schema registry configured")
            return None
        url = f"{self.registry_url}/schemas/ids/{schema_id}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                body = json.load(response)
            return fastavro.parse_schema(json.loads(body["schema"]))
        except urllib.error.HTTPError as error:
            attempts.append(f"not in registry {self.registry_url} (HTTP {error.code})")
        except (urllib.error.URLError, OSError) as error:
            attempts.append(f"registry {self.registry_url} unreachable ({error})")
        except (ValueError, KeyError, TypeError) as error:
            attempts.append(f"registry {self.registry_url} sent no usable schema ({error!r})")
        return None

    def _from_folder(self, schema_id: int, attempts: list[str]) -> Any:
        if self.schema_dir is None:
            attempts.append("no schema folder configured")
            return None
        major, minor = divmod(schema_id, 100)
        return _load(schema_file(self.schema_dir, major, minor),
                     f"not in folder {self.schema_dir} (no {major}_{minor}/ nor "
                     f"{major}/{minor}/ holding lsst.v{major}_{minor}.alert.avsc)", attempts)

    def _from_package(self, schema_id: int, attempts: list[str]) -> Any:
        if not self.use_package:
            return None
        try:
            import lsst.alert.packet as packet  # GPL-3.0, optional: never required
        except ImportError:
            attempts.append("lsst-alert-packet not installed")
            return None
        major, minor = divmod(schema_id, 100)
        root = Path(packet.__file__).parent / "schema"
        return _load(schema_file(root, major, minor), f"not in lsst-alert-packet ({root})",
                     attempts)


def _load(path: Path, missing: str, attempts: list[str]) -> Any:
    if not path.is_file():
        attempts.append(missing)
        return None
    try:
        return fastavro.schema.load_schema(str(path))
    except Exception as error:  # a broken schema file is one more failed source
        attempts.append(f"{path} does not load ({error!r})")
        return None
