"""Avro binary encoding of flat records, a whole column at a time.

A night has ~10^5 history entries, each written once and then copied into every later
packet of its object. Encoding them one dict at a time costs ~50 µs each in fastavro
(most of it resolving each nullable field's union branch). Here every field is
encoded for all rows at once with NumPy (zig-zag varints, little-endian floats,
length-prefixed strings, the union branch byte) and the rows are assembled by
scattering each field's bytes to its offset in one buffer.

Only what the simulator's flat records use: ``int``, ``long``, ``float``, ``double``,
``string``, ``boolean`` (``b``), each optionally ``["null", T]``. Fields use the compact notation of
``schemas.ztf`` (``name:T``, ``?T``/``^T`` nullable).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

Piece = tuple[np.ndarray, np.ndarray]  # bytes [n, width] (uint8), used length per row
_BRANCH_NULL, _BRANCH_VALUE = 0, 2  # union index 0 / 1, zig-zag encoded


def varints(values: np.ndarray) -> Piece:
    """Zig-zag base-128 varints of integers (Avro ``int``/``long``)."""
    signed = np.asarray(values, dtype=np.int64)
    zigzag = ((signed << 1) ^ (signed >> 63)).view(np.uint64)
    n = len(zigzag)
    lengths = np.ones(n, dtype=np.int64)
    for group in range(1, 10):
        lengths += zigzag >= np.uint64(1) << np.uint64(7 * group)
    width = int(lengths.max()) if n else 1
    out = np.empty((n, width), dtype=np.uint8)
    for group in range(width):
        bits = (zigzag >> np.uint64(7 * group)) & np.uint64(0x7F)
        more = (group < lengths - 1).astype(np.uint8) << 7
        out[:, group] = bits.astype(np.uint8) | more
    return out, lengths


def _fixed(values: np.ndarray, dtype: str) -> Piece:
    raw = np.ascontiguousarray(np.asarray(values, dtype=dtype))
    width = raw.dtype.itemsize
    return raw.view(np.uint8).reshape(len(raw), width), np.full(len(raw), width, np.int64)


def _strings(values: np.ndarray) -> list[Piece]:
    encoded = np.char.encode(np.asarray(values, dtype=str), "utf-8")
    width = max(encoded.dtype.itemsize, 1)
    raw = np.frombuffer(encoded.astype(f"S{width}").tobytes(), dtype=np.uint8)
    lengths = np.char.str_len(encoded).astype(np.int64)
    return [varints(lengths), (raw.reshape(len(encoded), width), lengths)]


def _value(code: str, values: np.ndarray) -> list[Piece]:
    if code == "f":
        return [_fixed(values, "<f4")]
    if code == "d":
        return [_fixed(values, "<f8")]
    if code in "il":
        return [varints(values)]
    if code == "b":
        return [_fixed(np.asarray(values, dtype=bool), "u1")]
    if code == "s":
        return _strings(values)
    raise ValueError(f"unsupported field type code {code!r}")


def field_pieces(code: str, values: np.ndarray, null: np.ndarray | None) -> list[Piece]:
    """The bytes of one field for every row; ``null`` marks rows without a value
    (allowed only for nullable fields)."""
    n = len(values)
    if code[0] not in "?^":
        if null is not None and null.any():
            raise ValueError("null in a field that is not nullable")
        return _value(code, values)
    null = np.zeros(n, dtype=bool) if null is None else null
    branch = np.where(null, _BRANCH_NULL, _BRANCH_VALUE).astype(np.uint8)[:, None]
    pieces = [(branch, np.ones(n, dtype=np.int64))]
    if null.all():
        return pieces
    filled = values if not null.any() else np.where(null, _placeholder(code[1]), values)
    for data, lengths in _value(code[1], filled):
        pieces.append((data, np.where(null, 0, lengths)))
    return pieces


def _placeholder(code: str) -> object:
    return "" if code == "s" else (False if code == "b" else 0)


def encode_rows(spec: str, columns: Mapping[str, np.ndarray],
                nulls: Mapping[str, np.ndarray] | None = None, n: int | None = None
                ) -> list[bytes]:
    """One Avro record per row, fields in ``spec`` order, as ``bytes`` each."""
    nulls = nulls or {}
    fields = [item.split(":") for item in spec.split()]
    if n is None:
        n = len(columns[fields[0][0]])
    if not n:
        return []
    pieces: list[Piece] = []
    for name, code in fields:
        if name in columns:
            pieces.extend(field_pieces(code, columns[name], nulls.get(name)))
        elif code[0] in "?^":  # a field the simulator has no value for: null
            pieces.append((np.zeros((n, 1), np.uint8), np.ones(n, np.int64)))
        else:
            raise KeyError(f"no values for required field {name!r}")
    lengths = np.stack([length for _, length in pieces], axis=1)
    row_length = lengths.sum(axis=1)
    row_start = np.concatenate([[0], np.cumsum(row_length)[:-1]]).astype(np.int64)
    offsets = row_start[:, None] + np.cumsum(lengths, axis=1) - lengths
    out = np.empty(int(row_length.sum()), dtype=np.uint8)
    for index, (data, used) in enumerate(pieces):
        width = data.shape[1]
        keep = np.arange(width)[None, :] < used[:, None]
        target = offsets[:, index][:, None] + np.arange(width)[None, :]
        out[target[keep]] = data[keep]
    buffer = out.tobytes()
    ends = (row_start + row_length).tolist()
    return [buffer[start:end] for start, end in zip(row_start.tolist(), ends, strict=True)]


_CODES = {"long": "l", "int": "i", "float": "f", "double": "d", "string": "s", "boolean": "b"}


def compact_spec(record_schema: Mapping[str, object]) -> str | None:
    """The compact field list of a flat record schema (fastavro-parsed), or None when a
    field has a type this encoder does not write."""
    items = []
    for field in record_schema["fields"]:  # type: ignore[union-attr]
        kind = field["type"]
        if isinstance(kind, str) and kind in _CODES:
            items.append(f"{field['name']}:{_CODES[kind]}")
        elif (isinstance(kind, list) and len(kind) == 2 and kind[0] == "null"
              and isinstance(kind[1], str) and kind[1] in _CODES):
            items.append(f"{field['name']}:?{_CODES[kind[1]]}")
        else:
            return None
    return " ".join(items)
