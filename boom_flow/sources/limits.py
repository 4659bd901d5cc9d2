"""The largest packet the pipeline takes, and what becomes of a larger one.

A packet over ``max_packet_bytes`` is not decoded: it becomes a ``Rejection`` that
keeps only its first ``KEPT_BYTES`` bytes, with the whole packet's length and
SHA-256, so it can be stored (MongoDB refuses documents over 16 MB) and found again
at its source. Nothing downstream ever holds the whole of it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from boom_flow.core import RawPacket, Rejection

#: The default maximum packet size (configuration: ``batch.max_packet_bytes``).
DEFAULT_MAX_PACKET_BYTES = 16 * 2**20
#: How much of an oversized packet is kept for inspection.
KEPT_BYTES = 2**20


def too_large_reason(length: int, max_bytes: int) -> str:
    return (f"packet of {length} bytes exceeds the maximum of {max_bytes} bytes "
            f"(batch.max_packet_bytes); its first {min(length, KEPT_BYTES)} bytes are kept")


def cut(packet: RawPacket, max_bytes: int) -> Rejection:
    """The rejection of an oversized packet already in memory."""
    data = packet.data
    return Rejection(reason=too_large_reason(len(data), max_bytes), source=packet.source,
                     position=packet.position, data=data[:KEPT_BYTES], length=len(data),
                     sha256=hashlib.sha256(data).hexdigest())


def screen(packets: Iterable[RawPacket], max_bytes: int
           ) -> tuple[list[RawPacket], list[Rejection]]:
    """(the packets within the limit, the rejections of the others)."""
    kept: list[RawPacket] = []
    rejected: list[Rejection] = []
    for packet in packets:
        if len(packet.data) > max_bytes:
            rejected.append(cut(packet, max_bytes))
        else:
            kept.append(packet)
    return kept, rejected


def read_file(path: Path, max_bytes: int) -> RawPacket | Rejection:
    """A packet file, or the rejection of one too large, read without holding the whole
    of it in memory."""
    length = path.stat().st_size
    if length <= max_bytes:
        return RawPacket(data=path.read_bytes(), source=str(path))
    with path.open("rb") as handle:
        head = handle.read(KEPT_BYTES)
        handle.seek(0)
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return Rejection(reason=too_large_reason(length, max_bytes), source=str(path), position="",
                     data=head, length=length, sha256=digest)
