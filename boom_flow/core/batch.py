"""The units that flow through the pipeline: raw packets in, a columnar batch out.

A source emits lists of ``RawPacket``; a survey decoder turns such a list into one
``AlertBatch``; every stage maps an ``AlertBatch`` to an ``AlertBatch``; storage
writes it. Tables are pandas DataFrames backed by Arrow types so that 64-bit ids
stay exact and a null stays a null (NumPy-backed columns would turn a nullable
``int64`` into ``float64`` and lose ``candid`` precision).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa

#: A private enrichment: True for the rows whose alert id the archive already holds
#: with another content (``storage.known``); the filter stage gives them no result.
SUPERSEDED = "_superseded"
#: An alert's stamps, in the order the models stack them.
CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
#: The ``AlertBatch.view`` of every alert's stamps (a tuple of bytes per row, ``CUTOUTS``
#: order). A decoder that inflated the stamps to verify them leaves the FITS bytes here,
#: so that the classifier does not inflate them again.
STAMPS_VIEW = "stamps"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RawPacket:
    """One packet as it arrived, with enough provenance to find it again."""

    #: Never in a repr: a log line must not carry megabytes of a packet.
    data: bytes = field(repr=False)
    #: Where it came from: a file path, ``path!member`` in a tarball, or ``kafka:topic``.
    source: str
    #: Position inside the source: Kafka ``partition:offset``, a record index, "".
    position: str = ""
    #: The Kafka message timestamp (ms since the Unix epoch), when there is one.
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A packet the pipeline could not use, kept with the reason: whole, or (when it
    was too large to keep) cut, with the whole packet's ``length`` and ``sha256``."""

    reason: str
    source: str
    position: str
    data: bytes = field(repr=False)
    #: The whole packet's size and SHA-256 (hex) when ``data`` holds only its start.
    length: int | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, packet: RawPacket, reason: str) -> Rejection:
        return cls(reason=reason, source=packet.source, position=packet.position,
                   data=packet.data)


@dataclass(frozen=True, slots=True)
class RawBatch:
    """What a source emits: up to N packets (or what T milliseconds brought).

    ``rejected`` holds what the source itself could not read (a truncated tarball
    member); ``commit`` is the source's opaque token to acknowledge the batch once it
    is stored (Kafka offsets); it never travels to the workers' stages.
    """

    packets: tuple[RawPacket, ...]
    rejected: tuple[Rejection, ...] = ()
    commit: Any = None

    def __len__(self) -> int:
        return len(self.packets) + len(self.rejected)


@dataclass(frozen=True)
class KnownHistory:
    """What the archive held for the batch's objects before this batch (one read).

    ``objects`` has one row per object already in ``{S}_alerts_aux`` with ``objectId``,
    ``cross_matches`` and ``aliases`` (dicts, or null). The stored history points are
    either given as tables (an ``objectId`` column, like the batch's own history tables)
    or, left ``None``, read from ``documents`` by ``core.history`` on the few fields a
    stage asks for: a whole ZTF point has about a hundred, and building every column of
    a deep light curve cost more than the stages that read it.
    Objects of the batch absent from ``objects`` are new to the archive.
    """

    objects: pd.DataFrame
    prv_candidates: pd.DataFrame | None = None
    prv_nondetections: pd.DataFrame | None = None
    fp_hists: pd.DataFrame | None = None
    #: The aux documents as read (``_id`` and the fields above): the tables cannot tell
    #: a point's absent field from a null one, filters can (``$exists``, ``$eq: null``).
    documents: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class AlertBatch:
    """A micro-batch of decoded alerts of one survey, as tables.

    Row ``i`` of ``alerts`` and row ``i`` of ``candidates`` describe the same alert.

    - ``alerts``: one row per alert with ``_id`` (the alert id: ZTF ``candid``, LSST
      ``diaSourceId``), ``objectId``, ``schema`` (the packet's schema version, a key
      of ``schema_fields``), and provenance ``source``, ``position``, ``timestamp_ms``;
      LSST adds ``ssObjectId``.
    - ``candidates``: the survey's candidate record per alert, converted as the data
      model says (fluxes in nJy, ``band``, boolean ``isdiffpos``, ...).
    - ``prv_candidates``, ``prv_nondetections``, ``fp_hists``: history points carried
      by the packets, one row each, with ``objectId`` and ``jd`` columns, converted
      like ``candidates``; not deduplicated (storage merges them into the archive).
    - ``cutouts``: ``_id`` plus ``cutoutScience``, ``cutoutTemplate``,
      ``cutoutDifference`` as bytes (or null where the packet has none).
    - ``schema_fields``: for each schema version in the batch, the candidate fields
      that schema defines, so that documents carry exactly the fields of their own
      packet (a field missing from an older schema is absent, not null).
    - ``rejected``: packets that could not be decoded, with the reason.
    - ``enrichments``: columns later stages add per alert (``cross_matches``,
      ``classifications``, ``properties``, ...), keyed by name, aligned with ``alerts``.
    - ``known``: the archive's history of the batch's objects before this batch, loaded
      on the worker when a stage needs it (``None`` otherwise).
    - ``counts``: numbers stages report about the batch (the write stage: ``stored``,
      ``duplicates``); the driver adds them up per run.
    - ``views``: what ``view`` computed once for the batch, shared by every copy.
    """

    survey: str
    alerts: pd.DataFrame
    candidates: pd.DataFrame
    prv_candidates: pd.DataFrame
    prv_nondetections: pd.DataFrame
    fp_hists: pd.DataFrame
    cutouts: pd.DataFrame
    schema_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rejected: tuple[Rejection, ...] = ()
    enrichments: Mapping[str, pd.Series] = field(default_factory=dict)
    known: KnownHistory | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    views: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.alerts)

    def view(self, name: str, make: Callable[[AlertBatch], T]) -> T:
        """``make(self)``, made once per batch and shared by the copies stages make of
        it (several stages need, say, the distinct alerts as documents; building them
        is not free). ``make`` may read only what the decoder set (the tables and
        ``schema_fields``); a copy with other tables makes its own."""
        tables = self._decoded()
        made = self.views.get(name)
        if made is None or any(a is not b for a, b in zip(made[0], tables, strict=True)):
            made = self.views[name] = (tables, make(self))
        return made[1]  # type: ignore[no-any-return]

    def _decoded(self) -> tuple[Any, ...]:
        return (self.alerts, self.candidates, self.prv_candidates, self.prv_nondetections,
                self.fp_hists, self.cutouts, self.schema_fields)

    def with_enrichment(self, name: str, values: pd.Series) -> AlertBatch:
        """A copy with one more per-alert column (stages never mutate their input)."""
        if len(values) != len(self.alerts):
            raise ValueError(f"enrichment {name!r} has {len(values)} rows, batch has {len(self)}")
        return replace(self, enrichments={**self.enrichments, name: values})

    def with_rejections(self, rejections: Iterable[Rejection]) -> AlertBatch:
        return replace(self, rejected=(*self.rejected, *rejections))

    def with_counts(self, **counts: int) -> AlertBatch:
        """A copy with more reported numbers (see ``counts``)."""
        return replace(self, counts={**self.counts, **counts})


def table_from_records(
    records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """An Arrow-backed DataFrame from dicts, with the union of their keys as columns.

    ``pa.Table.from_pylist`` would take the columns of the first record only; packets
    of different schema versions can meet in one batch.
    """
    if columns is None:
        seen: dict[str, None] = {}
        for record in records:
            seen.update(dict.fromkeys(record))
        columns = list(seen)
    arrays = {}
    for name in columns:
        values = [record.get(name) for record in records]
        try:
            arrays[name] = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed types across schema versions (e.g. int vs float): let Arrow widen
            # through doubles, or keep Python objects when nothing common exists.
            arrays[name] = _widened(values)
    table = pa.table(arrays) if arrays else pa.table({})
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    if not arrays:
        frame = pd.DataFrame(index=pd.RangeIndex(len(records)))
    return frame


def _widened(values: list[Any]) -> pa.Array:
    try:
        return pa.array([None if v is None else float(v) for v in values])
    except (TypeError, ValueError):
        return pa.array([None if v is None else str(v) for v in values])


def records_from_table(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain Python dicts (exact ints, ``None`` for nulls) from a batch table."""
    return pa.Table.from_pandas(frame, preserve_index=False).to_pylist()
