"""The columnar Avro encoder writes exactly what fastavro writes, record by record."""

from __future__ import annotations

import io

import fastavro
import numpy as np
import pytest

from boom_flow.simulate.columnar_avro import encode_rows, varints

SPEC = "a:i b:l c:?f d:^d e:s f:?s g:?l h:?i"
TYPES = {"i": "int", "l": "long", "f": "float", "d": "double", "s": "string"}


def fastavro_schema(spec: str) -> object:
    fields = []
    for item in spec.split():
        name, code = item.split(":")
        kind = ["null", TYPES[code[1]]] if code[0] in "?^" else TYPES[code]
        fields.append({"name": name, "type": kind})
    return fastavro.parse_schema({"type": "record", "name": "r", "fields": fields})


def test_rows_are_byte_identical_to_fastavro() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    columns = {
        "a": rng.integers(-2**31, 2**31, n),
        "b": np.concatenate([rng.integers(-2**62, 2**62, n - 4), [0, -1, 2**63 - 1, -2**63]]),
        "c": rng.normal(0, 1e3, n), "d": rng.normal(0, 1, n),
        "e": np.array([f"x{'é' * (i % 3)}{i}" for i in range(n)]),
        "f": np.array(["ab"] * n), "g": rng.integers(0, 2**40, n),
    }
    nulls = {"c": rng.random(n) < 0.3, "d": rng.random(n) < 0.5, "f": rng.random(n) < 0.5}
    rows = encode_rows(SPEC, columns, nulls)
    schema = fastavro_schema(SPEC)
    for i in range(n):
        record = {name: None if name in nulls and nulls[name][i] else values[i].item()
                  for name, values in columns.items()}
        record["h"] = None  # no column: written as null
        stream = io.BytesIO()
        fastavro.schemaless_writer(stream, schema, record)
        assert rows[i] == stream.getvalue(), (i, record)


def test_varints_match_the_avro_examples() -> None:
    data, lengths = varints(np.array([0, -1, 1, -64, 64]))
    encoded = [bytes(row[:length]) for row, length in zip(data, lengths, strict=True)]
    assert encoded == [b"\x00", b"\x01", b"\x02", b"\x7f", b"\x80\x01"]


def test_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="not nullable"):
        encode_rows("a:i", {"a": np.array([1])}, {"a": np.array([True])})
    with pytest.raises(KeyError, match="b"):
        encode_rows("a:i b:l", {"a": np.array([1])})
    assert encode_rows("a:i", {"a": np.array([], dtype=np.int64)}) == []
