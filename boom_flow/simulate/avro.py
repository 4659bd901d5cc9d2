"""Writing packets: Avro object-container files (ZTF) and Rubin's wire format (LSST).

A ZTF packet is a whole container file holding one record. Its header (magic,
metadata map with the schema and codec) is the same for every packet and built once;
only the 16-byte sync marker differs, and it comes from the simulator's seeded
generator so that a seed gives byte-identical files.
"""

from __future__ import annotations

import struct

MAGIC = b"Obj\x01"
WIRE_MAGIC = b"\x00"


def encode_long(value: int) -> bytes:
    """Avro ``long``: zig-zag, then base-128 varint."""
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value & ~0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_bytes(data: bytes) -> bytes:
    return encode_long(len(data)) + data


def container_header(schema_json: bytes, codec: bytes = b"null") -> bytes:
    """Magic and the metadata map of an OCF header, without the sync marker."""
    entries = ((b"avro.codec", codec), (b"avro.schema", schema_json))
    body = b"".join(encode_bytes(key) + encode_bytes(value) for key, value in entries)
    return MAGIC + encode_long(len(entries)) + body + encode_long(0)


def string(text: str) -> bytes:
    return encode_bytes(text.encode())


def optional_array(items: list[bytes]) -> bytes:
    """``["null", {"type": "array", ...}]`` from already encoded items: null when empty,
    else one block of all items (what fastavro writes too)."""
    if not items:
        return b"\x00"
    return b"".join((b"\x02", encode_long(len(items)), *items, b"\x00"))


def container(header: bytes, sync: bytes, payload: bytes, count: int = 1) -> bytes:
    """A complete OCF: header, sync marker, one block of ``count`` records."""
    return b"".join((header, sync, encode_long(count), encode_long(len(payload)), payload,
                     sync))


def wire_packet(schema_id: int, payload: bytes) -> bytes:
    """Rubin's Kafka framing: ``0x00``, 4-byte big-endian schema id, schemaless Avro."""
    return WIRE_MAGIC + struct.pack(">I", schema_id) + payload
