"""The hand-read Avro container: codecs, several blocks, a schema parsed once, bad bytes."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest

from boom_flow.surveys.container import ContainerError, SchemaCache, read_container

SCHEMA = {"type": "record", "name": "thing", "version": "9.9",
          "fields": [{"name": "id", "type": "long"}, {"name": "label", "type": "string"}]}


def _container(records: list[dict[str, Any]], codec: str = "null", **options: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.writer(buffer, fastavro.parse_schema(SCHEMA), records, codec=codec, **options)
    return buffer.getvalue()


def _cache() -> SchemaCache[str]:
    return SchemaCache(lambda parsed: parsed.get("version"))


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_reads_every_record_of_every_block_with_either_codec(codec: str) -> None:
    records = [{"id": 2**62 + i, "label": f"n{i}" * 50} for i in range(500)]
    data = _container(records, codec, sync_interval=1000)  # many small blocks
    container = read_container(data, _cache())
    assert container.records == records
    assert container.schema.info == "9.9"


def test_the_schema_is_parsed_once_per_distinct_header() -> None:
    cache = _cache()
    first = read_container(_container([{"id": 1, "label": "a"}]), cache)
    for i in range(20):
        assert read_container(_container([{"id": i, "label": "b"}]), cache).schema is first.schema
    assert cache.parse_count == 1 and len(cache) == 1


def test_the_cache_is_bounded() -> None:
    cache = SchemaCache(lambda parsed: None, max_size=2)
    for version in ("1", "2", "3"):
        schema = dict(SCHEMA, version=version)
        buffer = io.BytesIO()
        fastavro.writer(buffer, fastavro.parse_schema(schema), [{"id": 1, "label": ""}])
        read_container(buffer.getvalue(), cache)
    assert len(cache) == 2 and cache.parse_count == 3


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: d[: len(d) // 2], "truncated"),
    (lambda d: b"Obj\x02" + d[4:], "not an Avro container"),
    (lambda d: d[:-1] + bytes([d[-1] ^ 0xFF]), "sync marker mismatch"),
    (lambda d: d[:20], "truncated"),
])
def test_damaged_containers_raise_with_the_reason(damage: Any, message: str) -> None:
    data = _container([{"id": i, "label": "x" * 100} for i in range(10)])
    with pytest.raises(ContainerError, match=message):
        read_container(damage(data), _cache())


def test_unknown_codecs_are_refused() -> None:
    data = _container([{"id": 1, "label": "a"}])
    patched = data.replace(b"\x08null", b"\x08nope", 1)  # length 4, zig-zag 8
    with pytest.raises(ContainerError, match="unsupported Avro codec 'nope'"):
        read_container(patched, _cache())
