"""What every survey provides, and the pieces the survey decoders share.

A ``Survey`` is the one place the survey-agnostic stages and storage look up
survey specifics: the collection prefix, the decoder, what the ids mean, which
field carries data rights. Each survey module (``ztf.py``, ``lsst.py``) builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from boom_flow.core.batch import AlertBatch, RawPacket, Rejection, table_from_records

Decoder = Callable[[Sequence[RawPacket]], AlertBatch]
#: A packet -> its object id, read without decoding the packet (None when it cannot be).
KeyReader = Callable[[RawPacket], Any]


@dataclass(frozen=True)
class Survey:
    """A survey as the rest of the pipeline sees it."""

    #: Upper-case name, the prefix of the collections: ``ZTF`` -> ``ZTF_alerts``.
    name: str
    #: Raw packets -> one ``AlertBatch``; never raises for a bad packet.
    decode: Decoder
    #: The packet's object id, read cheaply on the driver to route the packet to the
    #: worker that owns its object (``pipeline.routing``); never raises.
    object_key: KeyReader
    #: Packet field that becomes the alert ``_id`` (ZTF ``candid``, LSST ``diaSourceId``).
    alert_id_field: str
    #: Packet field that becomes ``objectId`` and keys ``{name}_alerts_aux``.
    object_id_field: str
    #: Python type of ``objectId`` (ZTF ``str`` like ``ZTF21abiuvdk``, LSST ``int``).
    object_id_type: type
    #: Photometric bands the survey uses, as written in ``candidate.band``.
    bands: tuple[str, ...]
    #: Declination range the survey can see (degrees): no use looking for aliases outside.
    dec_range: tuple[float, float]
    #: Typical astrometric uncertainty (arcsec), for matching the same object across surveys.
    position_uncertainty_arcsec: float
    #: Candidate field that restricts who may see an alert (ZTF ``programid``), if any.
    data_rights_field: str | None = None

    @property
    def key(self) -> str:
        """Lower-case registry key (``ztf``, ``lsst``)."""
        return self.name.lower()


def record_position(packet: RawPacket, index: int, count: int) -> str:
    """Where a record sits: the packet's position, or the record index inside a
    container holding several alerts (appended to the packet's own position if any)."""
    if count == 1:
        return packet.position
    return f"{packet.position}#{index}" if packet.position else str(index)


def reject(packet: RawPacket, reason: str, index: int = 0, count: int = 1) -> Rejection:
    """A rejection of one record of ``packet`` (the whole packet when ``count`` is 1)."""
    where = record_position(packet, index, count)
    if where != packet.position:
        packet = replace(packet, position=where)
    return Rejection.of(packet, reason)


def describe_error(error: BaseException) -> str:
    """``Type: message`` of a decode error, for a rejection reason."""
    text = str(error) or "no detail"
    return f"{type(error).__name__}: {text}"


def flatten(entries: Sequence[list[dict[str, Any]] | None]
            ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The history entries of all alerts in one list, and the index of the alert each
    entry came with."""
    counts = np.fromiter((len(e) if e else 0 for e in entries), dtype=np.int64,
                         count=len(entries))
    rows = [row for group in entries if group for row in group]
    return rows, np.repeat(np.arange(len(entries)), counts)


def history_table(rows: list[dict[str, Any]], owners: np.ndarray,
                  object_ids: Sequence[Any]) -> pd.DataFrame:
    """One table of history entries with the ``objectId`` of the alert each came with
    (taken columnarly from the alerts' ids, not written into every dict)."""
    if not rows:
        return table_from_records([], columns=["objectId", "jd"])
    frame = table_from_records(rows)
    ids = pa.array(list(object_ids)).take(pa.array(owners))
    frame.insert(0, "objectId", pd.Series(pd.arrays.ArrowExtensionArray(ids), index=frame.index))
    return frame


def history_tables(entries: Sequence[list[dict[str, Any]] | None],
                   object_ids: Sequence[Any]) -> pd.DataFrame:
    """``history_table`` of the entries of all alerts."""
    return history_table(*flatten(entries), object_ids)


def cutouts_table(alert_ids: Sequence[int], science: Sequence[bytes | None],
                  template: Sequence[bytes | None],
                  difference: Sequence[bytes | None]) -> pd.DataFrame:
    """The stamps of each alert, kept as the packet's bytes (ZTF gzipped FITS, LSST
    FITS) until a stage needs pixels."""
    return table_from_records(
        [{"_id": i, "cutoutScience": s, "cutoutTemplate": t, "cutoutDifference": d}
         for i, s, t, d in zip(alert_ids, science, template, difference, strict=True)],
        columns=["_id", "cutoutScience", "cutoutTemplate", "cutoutDifference"],
    )


def record_fields(parsed_schema: Any, record_suffix: str) -> tuple[str, ...]:
    """Field names of the named record ``*.{record_suffix}`` of a parsed schema."""
    named = parsed_schema.get("__named_schemas", {}) if isinstance(parsed_schema, dict) else {}
    for name, schema in named.items():
        if (name == record_suffix or name.endswith("." + record_suffix)) and "fields" in schema:
            return tuple(field["name"] for field in schema["fields"])
    return ()
