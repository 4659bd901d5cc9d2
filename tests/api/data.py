"""Test data for the API: the real ZTF packets, plus private copies of a real object.

The shared packets are nearly all programid 1. To test data rights, the 34 packets
of ZTF21abiuvdk are copied (new candids, new objectIds) with their programids
rewritten, then re-encoded with their own Avro schema and ingested like any packet:

- ``MIXED``: each alert and each history point gets programid ``mixed_programid(jd)``
  (1, 2 or 3 by its jd: the same point carries the same programid in every packet).
- ``PRIVATE``: every alert and point gets programid 2 or 3, nothing public.

Both sit at ZTF21abiuvdk's position, so cone searches meet all three objects.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro

from boom_flow.core.batch import RawPacket
from boom_flow.surveys import build_survey

LIGHTCURVE = "ztf/alerts/pgb_ZTF21abiuvdk_lightcurve"
REAL_OBJECT = "ZTF21abiuvdk"
MIXED = "ZTF21mixedaa"
PRIVATE = "ZTF21privatz"
MIXED_OFFSET = 10**18
PRIVATE_OFFSET = 2 * 10**18
FP_OFFSET = 3 * 10**18
FP_SUFFIX = "fp"


def mixed_programid(jd: float) -> int:
    return 1 + round(jd * 1e5) % 3


def private_programid(jd: float) -> int:
    return 2 + round(jd * 1e5) % 2


def real_packets(shared: Path) -> list[RawPacket]:
    return [RawPacket(path.read_bytes(), str(path))
            for path in sorted((shared / "ztf" / "alerts").rglob("*.avro"))]


def rewrite(data: bytes, object_id: str, offset: int,
             programid: Callable[[float], int]) -> bytes:
    reader = fastavro.reader(io.BytesIO(data))
    schema = reader.writer_schema
    records = []
    for record in reader:
        record = dict(record)
        record["objectId"] = object_id
        record["candid"] += offset
        candidate = dict(record["candidate"])
        candidate["candid"] += offset
        candidate["programid"] = programid(candidate["jd"])
        record["candidate"] = candidate
        for key in ("prv_candidates", "fp_hists"):
            if record.get(key):
                record[key] = [{**point, "programid": programid(point["jd"]),
                                **({"candid": point["candid"] + offset}
                                   if point.get("candid") else {})}
                               for point in record[key]]
        records.append(record)
    out = io.BytesIO()
    fastavro.writer(out, schema, records)
    return out.getvalue()


def private_copies(shared: Path) -> list[RawPacket]:
    """The copies of ZTF21abiuvdk, and mixed-programid copies (objectId + ``FP_SUFFIX``)
    of the schema 4.02 packets, whose forced photometry (``fp_hists``) gets mixed
    programids too."""
    packets = []
    for path in sorted((shared / "ztf/alerts/boom_20240716").glob("*.avro")):
        data = path.read_bytes()
        object_id = next(iter(fastavro.reader(io.BytesIO(data))))["objectId"]
        packets.append(RawPacket(rewrite(data, object_id + FP_SUFFIX, FP_OFFSET,
                                          mixed_programid), f"fp:{path.name}"))
    for path in sorted((shared / LIGHTCURVE).glob("*.avro")):
        data = path.read_bytes()
        packets.append(RawPacket(rewrite(data, MIXED, MIXED_OFFSET, mixed_programid),
                                 f"mixed:{path.name}"))
        packets.append(RawPacket(rewrite(data, PRIVATE, PRIVATE_OFFSET, private_programid),
                                 f"private:{path.name}"))
    return packets


def decode(packets: list[RawPacket]) -> Any:
    batch = build_survey("ztf").decode(packets)
    assert not batch.rejected, batch.rejected[:1]
    return batch
