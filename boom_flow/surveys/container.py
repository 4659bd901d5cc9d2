"""Avro object-container files (OCF) read with a writer-schema cache.

``fastavro.reader`` parses the JSON schema in every file's header and compiles it
again for every file. ZTF sends one alert per container, so that parse dominates the
decode (see ``benchmarks/decode.py``). Here the header is read by hand (magic,
metadata map with ``avro.schema`` and ``avro.codec``, sync marker), the schema is
parsed once per distinct header bytes and kept, and the records are decoded with
``fastavro.schemaless_reader`` against the cached, already parsed schema.
"""

from __future__ import annotations

import io
import json
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import fastavro
import fastavro.read

MAGIC = b"Obj\x01"
SYNC_SIZE = 16

T = TypeVar("T")


class ContainerError(ValueError):
    """The bytes are not a well-formed Avro object container."""


@dataclass(frozen=True)
class WriterSchema(Generic[T]):
    """A writer schema parsed once, with what a survey derived from it once."""

    parsed: Any
    #: Survey-specific facts about the schema (version, candidate fields, ...).
    info: T


class SchemaCache(Generic[T]):
    """Parsed writer schemas keyed by the exact schema bytes of the header.

    ``describe`` turns the parsed schema into the survey's ``info`` (run once per
    schema too). The cache is bounded: a stream of ever-new schemas (a misbehaving
    producer) evicts the oldest entries instead of growing without limit.
    """

    def __init__(self, describe: Callable[[Any], T], max_size: int = 64) -> None:
        self._describe = describe
        self._max_size = max_size
        self._entries: dict[bytes, WriterSchema[T]] = {}
        # Worker threads share one decoder: a new schema is parsed and stored by one.
        self._lock = threading.Lock()
        #: How many times a schema was parsed: stays at the number of distinct schemas.
        self.parse_count = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def get(self, schema_bytes: bytes) -> WriterSchema[T]:
        entry = self._entries.get(schema_bytes)
        if entry is not None:
            return entry
        with self._lock:
            entry = self._entries.get(schema_bytes)
            if entry is None:
                parsed = fastavro.parse_schema(json.loads(schema_bytes))
                self.parse_count += 1
                entry = WriterSchema(parsed=parsed, info=self._describe(parsed))
                if len(self._entries) >= self._max_size:
                    del self._entries[next(iter(self._entries))]
                self._entries[schema_bytes] = entry
        return entry


@dataclass(frozen=True)
class Container(Generic[T]):
    """The records of one container and the (cached) schema they were written with."""

    schema: WriterSchema[T]
    records: list[dict[str, Any]]


def is_container(data: bytes) -> bool:
    return data[:4] == MAGIC


def read_container(data: bytes, cache: SchemaCache[T]) -> Container[T]:
    """Every record of an OCF; raises (``ContainerError`` or fastavro's errors) if the
    bytes are not a complete, consistent container."""
    schema, codec, sync, position = _read_header(data, cache)
    records: list[dict[str, Any]] = []
    while position < len(data):
        count, size, position = _block_start(data, position)
        block = _decompress(codec, data[position:position + size])
        position += size
        if data[position:position + SYNC_SIZE] != sync:
            raise ContainerError(f"sync marker mismatch after the block ending at byte {position}")
        position += SYNC_SIZE
        stream = io.BytesIO(block)
        for _ in range(count):
            records.append(fastavro.schemaless_reader(stream, schema.parsed))
        if stream.tell() != len(block):
            raise ContainerError(f"block of {count} records left {len(block) - stream.tell()} "
                                 "bytes unread (corrupt data or wrong schema)")
    return Container(schema=schema, records=records)


def peek_container(data: bytes, cache: SchemaCache[T], peek: Callable[[T], Any]) -> Any:
    """A field of the container's first record, read with ``peek(schema info)`` (a
    ``surveys.peek.FieldPeek`` the survey compiled with its schema facts) and without
    decoding the record; None when it cannot be read that way (a compressed block, a
    schema without a peek). Raises like ``read_container`` on a malformed header."""
    schema, codec, _, position = _read_header(data, cache)
    reader = peek(schema.info)
    if reader is None or codec != "null" or position >= len(data):
        return None
    count, _, position = _block_start(data, position)
    return reader(data, position) if count > 0 else None


def _read_header(data: bytes, cache: SchemaCache[T]) -> tuple[WriterSchema[T], str, bytes, int]:
    """The header's (cached) schema, codec and sync marker, and where the blocks start."""
    if not is_container(data):
        raise ContainerError(f"not an Avro container: starts with {data[:4]!r}, not {MAGIC!r}")
    metadata, position = _read_metadata(data, len(MAGIC))
    sync = data[position:position + SYNC_SIZE]
    if len(sync) != SYNC_SIZE:
        raise ContainerError("truncated header: no sync marker")
    if "avro.schema" not in metadata:
        raise ContainerError("header has no avro.schema")
    codec = metadata.get("avro.codec", b"null").decode()
    return cache.get(metadata["avro.schema"]), codec, sync, position + SYNC_SIZE


def _block_start(data: bytes, position: int) -> tuple[int, int, int]:
    """A block's record count and byte size, and where its records start."""
    count, position = read_long(data, position)
    size, position = read_long(data, position)
    if count < 0 or size < 0 or position + size + SYNC_SIZE > len(data):
        raise ContainerError(f"truncated block at byte {position}: {size} bytes announced, "
                             f"{len(data) - position} left")
    return count, size, position


def read_schemaless(payload: bytes, schema: WriterSchema[Any]) -> dict[str, Any]:
    """One record of a schemaless payload that must use every byte (wire format)."""
    stream = io.BytesIO(payload)
    record = fastavro.schemaless_reader(stream, schema.parsed)
    if stream.tell() != len(payload):
        raise ContainerError(f"{len(payload) - stream.tell()} bytes left after the record "
                             "(corrupt data or wrong schema)")
    return record


def _decompress(codec: str, block: bytes) -> bytes:
    if codec == "null":
        return block
    if codec == "deflate":
        return zlib.decompress(block, -15)
    # Rare codecs: defer to fastavro's own block readers (snappy, zstandard, ...).
    reader = fastavro.read.BLOCK_READERS.get(codec)
    if reader is None:
        raise ContainerError(f"unsupported Avro codec {codec!r}")
    return reader(io.BytesIO(block)).read()


def _read_metadata(data: bytes, position: int) -> tuple[dict[str, bytes], int]:
    """The header's metadata map (Avro ``map<bytes>``: blocks of key/value pairs)."""
    metadata: dict[str, bytes] = {}
    while True:
        count, position = read_long(data, position)
        if count == 0:
            return metadata, position
        if count < 0:  # a negative count is followed by the block's byte size
            count = -count
            _, position = read_long(data, position)
        for _ in range(count):
            key, position = _read_bytes(data, position)
            value, position = _read_bytes(data, position)
            metadata[key.decode()] = value


def _read_bytes(data: bytes, position: int) -> tuple[bytes, int]:
    size, position = read_long(data, position)
    end = position + size
    if size < 0 or end > len(data):
        raise ContainerError(f"truncated header at byte {position}")
    return data[position:end], end


def read_long(data: bytes, position: int) -> tuple[int, int]:
    """An Avro ``long``: zig-zag encoded variable-length integer."""
    shift = 0
    value = 0
    while True:
        if position >= len(data):
            raise ContainerError("truncated data: unterminated integer")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), position
        shift += 7
        if shift > 63:
            raise ContainerError(f"malformed integer at byte {position}")
