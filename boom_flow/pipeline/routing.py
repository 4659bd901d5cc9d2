"""Which worker takes which packets: each object always to the same worker.

Two workers merging one object's light curve at the same time collide: the second
write's guards fail and its whole aux merge is planned again from a fresh read
(``storage.history``), a read whose cost on the server grows with every night of
the object's history. Routing every packet by its object id to one worker keeps an
object's batches on one worker, one after another, so that merges of the same object
never overlap (while the worker set stays the same).

The object id is read from the packet without decoding it (``Survey.object_key``);
a packet whose id cannot be read that way (a malformed one, which the decode will
reject; an LSST solar-system source without a ``diaObjectId``) goes to the worker
with the fewest packets so far. The hash is CRC-32 of the id's text: the same on
every driver and in every run, unlike Python's salted ``hash``.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Sequence
from dataclasses import replace
from typing import Any

from boom_flow.core import RawBatch, RawPacket
from boom_flow.surveys.base import KeyReader


def owner(key: Hashable, workers: int) -> int:
    """The index of the worker (of ``workers``) that owns object ``key``."""
    return zlib.crc32(str(key).encode()) % workers


def split_by_owner(raw: RawBatch, workers: Sequence[str], key: KeyReader
                   ) -> list[tuple[str, RawBatch]]:
    """``raw`` as one batch per worker that owns some of its packets (in the batch's
    order within each), with ``workers`` sorted so that every driver agrees. The
    rejections the source made ride with the first part."""
    names = sorted(workers)
    if len(names) <= 1:
        return [(names[0], raw)] if names else []
    parts: list[list[RawPacket]] = [[] for _ in names]
    unkeyed: list[RawPacket] = []
    for packet in raw.packets:
        object_id: Any = key(packet)
        if object_id is None:
            unkeyed.append(packet)
        else:
            parts[owner(object_id, len(names))].append(packet)
    for packet in unkeyed:
        min(parts, key=len).append(packet)
    routed = [(name, replace(raw, packets=tuple(packets), rejected=()))
              for name, packets in zip(names, parts, strict=True) if packets]
    if not routed:
        return [(names[0], raw)]
    first_name, first = routed[0]
    routed[0] = (first_name, replace(first, rejected=raw.rejected))
    return routed
