"""Read one field of an Avro record without decoding the record.

The driver routes packets to workers by their object (``pipeline.routing``), so it
must know each packet's object id, at a cost far below a decode: a ZTF alert's
``objectId`` is its third field, after two short strings; LSST's ``diaObjectId``
sits near the start of its first nested record. A ``FieldPeek`` is compiled once per
writer schema (with the survey's other schema facts) and then skips the fields
before the wanted one by their encoding alone, never building the record.

Only plain fields can be skipped (numbers, strings, bytes, enums, fixed, unions and
records of those): a schema that puts an array or a map before the wanted field
gives no peek (``compile_peek`` returns None), and the packet is routed without a key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from boom_flow.surveys.container import read_long

#: Reads a value at a position of the bytes -> (value, position after it).
Reader = Callable[[bytes, int], tuple[Any, int]]

_WIDTHS = {"null": 0, "boolean": 1, "float": 4, "double": 8}


@dataclass(frozen=True)
class FieldPeek:
    """The field at a path of a record, read from the record's encoding."""

    read_value: Reader
    schema: Any
    path: tuple[str, ...]

    def __call__(self, data: bytes, position: int = 0) -> Any:
        return self.read_value(data, position)[0]

    def __reduce__(self) -> tuple[Any, ...]:
        # The reader is made of closures: a pickled survey (shipped by Dask) compiles
        # it again from the schema.
        return compile_peek, (self.schema, self.path)


def compile_peek(schema: Any, path: Sequence[str]) -> FieldPeek | None:
    """A peek at ``path`` (field names, outermost first) of records written with
    ``schema`` (as parsed by fastavro); None when a field before it cannot be skipped."""
    reader = _field_reader(schema, tuple(path))
    return FieldPeek(reader, schema, tuple(path)) if reader is not None else None


#: A survey's schema facts -> its object id peek (both surveys call it ``object_id``).
OBJECT_ID_PEEK: Callable[[Any], FieldPeek | None] = attrgetter("object_id")


def _field_reader(schema: Any, path: tuple[str, ...]) -> Reader | None:
    if not isinstance(schema, dict) or schema.get("type") != "record" or not path:
        return None
    skips: list[Reader] = []
    for field in schema["fields"]:
        if field["name"] == path[0]:
            inner = _value_reader(field["type"]) if len(path) == 1 else _field_reader(
                field["type"], path[1:])
            return None if inner is None else _after(skips, inner)
        skip = _value_reader(field["type"])
        if skip is None:
            return None
        skips.append(skip)
    return None


def _after(skips: list[Reader], read: Reader) -> Reader:
    def reader(data: bytes, position: int) -> tuple[Any, int]:
        for skip in skips:
            _, position = skip(data, position)
        return read(data, position)
    return reader


def _value_reader(schema: Any) -> Reader | None:
    """A reader of one value of a plain type (None for arrays, maps, named references)."""
    if isinstance(schema, list):
        branches = [_value_reader(branch) for branch in schema]
        if any(branch is None for branch in branches):
            return None
        return _union(branches)  # type: ignore[arg-type]
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if kind in ("int", "long", "enum"):
        return read_long
    if kind in ("string", "bytes"):
        return _string if kind == "string" else _bytes
    if kind in _WIDTHS:
        return _fixed(_WIDTHS[kind])
    if kind == "fixed" and isinstance(schema, dict):
        return _fixed(int(schema["size"]))
    if kind == "record" and isinstance(schema, dict):
        fields = [_value_reader(field["type"]) for field in schema["fields"]]
        if any(field is None for field in fields):
            return None
        return _after(fields[:-1], fields[-1]) if fields else _fixed(0)  # type: ignore[arg-type]
    return None


def _union(branches: list[Reader]) -> Reader:
    def reader(data: bytes, position: int) -> tuple[Any, int]:
        index, position = read_long(data, position)
        if not 0 <= index < len(branches):
            raise ValueError(f"union branch {index} out of range")
        return branches[index](data, position)
    return reader


def _bytes(data: bytes, position: int) -> tuple[bytes, int]:
    size, position = read_long(data, position)
    end = position + size
    if size < 0 or end > len(data):
        raise ValueError(f"truncated record at byte {position}")
    return data[position:end], end


def _string(data: bytes, position: int) -> tuple[str, int]:
    value, position = _bytes(data, position)
    return value.decode(), position


def _fixed(width: int) -> Reader:
    def reader(data: bytes, position: int) -> tuple[None, int]:
        if position + width > len(data):
            raise ValueError(f"truncated record at byte {position}")
        return None, position + width
    return reader
