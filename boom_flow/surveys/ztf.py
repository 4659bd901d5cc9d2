"""ZTF: Avro alert containers (schema 1.8 to 4.02) -> ``AlertBatch``.

ZTF distributes each alert as one Avro object-container file, on Kafka and in the
nightly tarballs alike. The writer schema of every container is parsed once and
cached (``container.SchemaCache``); records are then decoded schemaless.

Conversions (``data-model.md``, following BOOM ``src/alert/ztf.rs``):
- ``isdiffpos`` -> bool (``t``/``1``/``true``, any case); empty or ``"null"``
  ``ssnamenr`` -> null; ``band`` from ``fid``.
- ``psfFlux``/``psfFluxErr`` and ``apFlux``/``apFluxErr`` in BOOM's "nJy" from the
  magnitudes at zero point 23.9 (µJy times ``conversions.NJY_PER_UJY``), signed
  negative when ``isdiffpos`` is false; ``snr_psf`` (with BOOM's older name ``snr``
  kept for existing filters) and ``snr_ap``.
- history: entries with ``magpsf`` are detections (``prv_candidates``), the others
  non-detections (``prv_nondetections``, ``psfFluxErr`` from ``diffmaglim``).
- ``fp_hists`` (4.x): fluxes in DN at ``magzpsci`` -> ``flux * 1e9 * 10**((23.9 -
  magzpsci) / 2.5)`` as data-model.md gives; entries with the
  -99999 sentinel or non-finite fluxes are dropped; magnitudes above SNR 3 only.

Most of a packet's bytes are its three gzipped FITS stamps, which Avro cannot check;
their gzip CRC is verified (``verify_cutouts``) so that a packet damaged there is
rejected instead of archived with a broken image.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from boom_flow.core.batch import (
    CUTOUTS,
    STAMPS_VIEW,
    AlertBatch,
    RawPacket,
    Rejection,
    table_from_records,
)
from boom_flow.surveys import conversions as cv
from boom_flow.surveys.base import (
    Survey,
    cutouts_table,
    describe_error,
    flatten,
    history_table,
    history_tables,
    record_fields,
    record_position,
    reject,
)
from boom_flow.surveys.container import SchemaCache, peek_container, read_container
from boom_flow.surveys.peek import OBJECT_ID_PEEK, FieldPeek, compile_peek

BANDS = {1: "g", 2: "r", 3: "i"}
#: Fields the decoder adds to every candidate (and detection in the history).
DERIVED_FIELDS = ("psfFlux", "psfFluxErr", "snr_psf", "snr", "apFlux", "apFluxErr", "snr_ap",
                  "band")
#: Candidate fields without which an alert cannot be placed, dated or measured.
REQUIRED_CANDIDATE_FIELDS = ("jd", "ra", "dec", "fid", "magpsf", "sigmapsf", "isdiffpos")
TRUE_FLAGS = ("t", "1", "true")
ALERT_TYPES = {"_id": pa.int64(), "objectId": pa.string(), "schema": pa.string(),
               "source": pa.string(), "position": pa.string(), "timestamp_ms": pa.int64()}
NULL_NAMES = ("", "null")
#: zlib window bits for gzip framing (header and CRC-32 trailer checked).
GZIP_WBITS = 16 + zlib.MAX_WBITS


@dataclass(frozen=True)
class ZtfSchemaInfo:
    """What a ZTF writer schema tells once: its own version attribute (the pre-3.0
    packets have no ``schemavsn`` field, their schema says ``"version": "1.8"``) and
    the fields of its ``candidate`` record."""

    version: str | None
    candidate_fields: tuple[str, ...]
    #: Reads ``objectId`` from a record's bytes (None: this schema cannot be peeked).
    object_id: FieldPeek | None = None


def describe_schema(parsed: Any) -> ZtfSchemaInfo:
    version = parsed.get("version") if isinstance(parsed, dict) else None
    return ZtfSchemaInfo(version=str(version) if version is not None else None,
                         candidate_fields=record_fields(parsed, "candidate"),
                         object_id=compile_peek(parsed, ("objectId",)))


class ZtfDecoder:
    """Callable ``Sequence[RawPacket] -> AlertBatch`` holding the schema cache; one per
    worker process (the ``Survey`` that holds it is built once and reused)."""

    def __init__(self, max_schemas: int = 64, verify_cutouts: bool = True) -> None:
        self.schemas: SchemaCache[ZtfSchemaInfo] = SchemaCache(describe_schema, max_schemas)
        #: Check each stamp's gzip CRC: most of a packet's bytes are stamps, opaque to
        #: Avro, so this is what catches a packet corrupted there (~0.1 ms per stamp).
        self.verify_cutouts = verify_cutouts

    def object_key(self, packet: RawPacket) -> str | None:
        """The packet's ``objectId``, without decoding it; None when it cannot be read
        (the decode then says why, if the packet is bad)."""
        try:
            return peek_container(packet.data, self.schemas, OBJECT_ID_PEEK)
        except Exception:
            return None

    def __call__(self, packets: Sequence[RawPacket]) -> AlertBatch:
        alerts: list[dict[str, Any]] = []
        candidates: list[dict[str, Any]] = []
        histories: list[list[dict[str, Any]] | None] = []
        forced: list[list[dict[str, Any]] | None] = []
        stamps: list[tuple[bytes | None, bytes | None, bytes | None]] = []
        schema_fields: dict[str, tuple[str, ...]] = {}
        rejected: list[Rejection] = []
        inflated: list[tuple[bytes | None, ...]] = []
        for packet in packets:
            try:
                container = read_container(packet.data, self.schemas)
            except Exception as error:  # any decode failure rejects this packet only
                rejected.append(reject(packet, f"undecodable ZTF packet: {describe_error(error)}"))
                continue
            records = container.records
            if not records:
                rejected.append(reject(packet, "ZTF container holds no alert"))
            info = container.schema.info
            for index, record in enumerate(records):
                stamp = tuple(_stamp(record.get(name)) for name in CUTOUTS)
                problem = missing_fields(record)
                if not problem and self.verify_cutouts:
                    fits, problem = inflate_cutouts(record["candid"], stamp)
                if problem:
                    rejected.append(reject(packet, problem, index, len(records)))
                    continue
                version = str(record.get("schemavsn") or info.version or "unknown")
                schema_fields.setdefault(version, info.candidate_fields + DERIVED_FIELDS)
                alerts.append({
                    "_id": record["candid"], "objectId": record["objectId"], "schema": version,
                    "source": packet.source,
                    "position": record_position(packet, index, len(records)),
                    "timestamp_ms": packet.timestamp_ms,
                })
                candidates.append(record["candidate"])
                histories.append(record.get("prv_candidates"))
                forced.append(record.get("fp_hists"))
                stamps.append(stamp)
                if self.verify_cutouts:
                    inflated.append(fits)
        batch = assemble(alerts, candidates, histories, forced, stamps, schema_fields, rejected)
        if self.verify_cutouts:
            batch.view(STAMPS_VIEW, lambda _: inflated)
        return batch


def missing_fields(record: dict[str, Any]) -> str | None:
    """Why a decoded record is not a usable ZTF alert, or None."""
    if record.get("candid") is None:
        return "ZTF alert has no candid"
    if not record.get("objectId"):
        return f"ZTF alert {record['candid']} has no objectId"
    candidate = record.get("candidate")
    if not isinstance(candidate, dict):
        return f"ZTF alert {record['candid']} has no candidate"
    absent = [name for name in REQUIRED_CANDIDATE_FIELDS if candidate.get(name) is None]
    if absent:
        return f"ZTF alert {record['candid']}: candidate lacks {', '.join(absent)}"
    return None


def _stamp(cutout: Any) -> bytes | None:
    return cutout.get("stampData") if isinstance(cutout, dict) else None


def inflate_cutouts(candid: int, stamps: tuple[bytes | None, ...]
                    ) -> tuple[tuple[bytes | None, ...], str | None]:
    """An alert's stamps (gzipped FITS) inflated, and why one of them is damaged (or
    None): inflating checks the gzip CRC-32 and length. The FITS bytes are kept for the
    classifier (``STAMPS_VIEW``), which would otherwise inflate them again."""
    inflated: list[bytes | None] = []
    for name, stamp in zip(CUTOUTS, stamps, strict=True):
        if stamp is None:
            inflated.append(None)
            continue
        inflate = zlib.decompressobj(GZIP_WBITS)
        try:
            inflated.append(inflate.decompress(stamp))
        except zlib.error as error:
            return (), f"ZTF alert {candid}: {name} is not intact gzip ({error})"
        if not inflate.eof or inflate.unused_data:
            return (), (f"ZTF alert {candid}: {name} is not intact gzip "
                        "(truncated or trailing bytes)")
    return tuple(inflated), None


def assemble(alerts: list[dict[str, Any]], candidates: list[dict[str, Any]],
             histories: list[list[dict[str, Any]] | None],
             forced: list[list[dict[str, Any]] | None],
             stamps: list[tuple[bytes | None, bytes | None, bytes | None]],
             schema_fields: dict[str, tuple[str, ...]], rejected: list[Rejection]) -> AlertBatch:
    """The batch tables from the decoded records, converted column by column."""
    alert_table = table_from_records(
        alerts, columns=["_id", "objectId", "schema", "source", "position", "timestamp_ms"])
    cv.fill_types(alert_table, ALERT_TYPES)
    candidate_table = table_from_records(candidates)
    convert_detections(candidate_table)
    object_ids = [alert["objectId"] for alert in alerts]
    # Detections and non-detections split before the tables are built (cheaper than
    # building one table and taking rows out of every column).
    rows, owners = flatten(histories)
    detected = np.fromiter((row.get("magpsf") is not None for row in rows), dtype=bool,
                           count=len(rows))
    detections = history_table([r for r, d in zip(rows, detected, strict=True) if d],
                               owners[detected], object_ids)
    nondetections = history_table([r for r, d in zip(rows, detected, strict=True) if not d],
                                  owners[~detected], object_ids)
    convert_detections(detections)
    convert_detections(nondetections)
    fp_hists = convert_forced(history_tables(forced, object_ids))
    cutouts = cutouts_table([alert["_id"] for alert in alerts], *zip(*stamps, strict=True)) \
        if stamps else cutouts_table([], [], [], [])
    return AlertBatch(
        survey="ZTF", alerts=alert_table, candidates=candidate_table,
        prv_candidates=detections, prv_nondetections=nondetections, fp_hists=fp_hists,
        cutouts=cutouts, schema_fields=schema_fields, rejected=tuple(rejected),
    )


def convert_detections(frame: pd.DataFrame) -> None:
    """Candidate conversions, in place; also valid for history rows, where a row
    without ``magpsf`` gets ``psfFluxErr`` from its ``diffmaglim`` (as BOOM does)."""
    if not len(frame):
        return
    isdiffpos = cv.truthy_strings(cv.arrow(frame, "isdiffpos"), TRUE_FLAGS)
    positive = pc.fill_null(isdiffpos, False).to_numpy(zero_copy_only=False)
    known = pc.is_valid(isdiffpos).to_numpy(zero_copy_only=False)
    sign = np.where(known, np.where(positive, 1.0, -1.0), np.nan)
    psf, psf_err = cv.mag_to_flux(cv.floats(frame, "magpsf"), cv.floats(frame, "sigmapsf"),
                                  cv.ZTF_ZP)
    ap, ap_err = cv.mag_to_flux(cv.floats(frame, "magap"), cv.floats(frame, "sigmagap"),
                                cv.ZTF_ZP)
    limit_err = cv.limit_to_flux_error(cv.floats(frame, "diffmaglim"), cv.ZTF_ZP)
    psf_err = np.where(np.isfinite(psf), psf_err, limit_err)
    snr_psf = cv.ratio(psf, psf_err)
    columns: dict[str, Any] = {
        "isdiffpos": isdiffpos,
        "psfFlux": sign * psf * cv.NJY_PER_UJY,
        "psfFluxErr": psf_err * cv.NJY_PER_UJY,
        "snr_psf": snr_psf,
        "snr": snr_psf,
        "apFlux": sign * ap * cv.NJY_PER_UJY,
        "apFluxErr": cv.masked(ap_err, np.isfinite(sign)) * cv.NJY_PER_UJY,
        "snr_ap": cv.masked(cv.ratio(ap, ap_err), np.isfinite(sign)),
        "band": cv.lookup(cv.floats(frame, "fid"), BANDS),
    }
    if "ssnamenr" in frame.columns:
        columns["ssnamenr"] = cv.null_if_in(cv.arrow(frame, "ssnamenr"), NULL_NAMES)
    cv.set_columns(frame, columns)


def convert_forced(frame: pd.DataFrame) -> pd.DataFrame:
    """ZTF forced photometry: unmeasured points dropped, fluxes to nJy at ZP 23.9,
    magnitudes (at the image's own zero point) only above SNR 3."""
    if not len(frame):
        return frame
    flux = cv.floats(frame, "forcediffimflux")
    error = cv.floats(frame, "forcediffimfluxunc")
    zero_point = cv.floats(frame, "magzpsci")
    keep = (np.isfinite(flux) & (flux != cv.ZTF_MISSING_FLUX) & np.isfinite(error)
            & (error != cv.ZTF_MISSING_FLUX) & np.isfinite(zero_point))
    frame = frame.loc[keep].reset_index(drop=True)
    flux, error, zero_point = flux[keep], error[keep], zero_point[keep]
    to_njy = 10.0 ** ((cv.ZTF_ZP - zero_point) / 2.5) * cv.NJY_PER_UJY
    snr = cv.ratio(np.abs(flux), error)
    detected = snr > cv.SNT
    magpsf, sigmapsf = cv.flux_to_mag(flux, error, zero_point)
    cv.set_columns(frame, {
        "psfFlux": flux * to_njy,
        "psfFluxErr": error * to_njy,
        "magpsf": cv.masked(magpsf, detected),
        "sigmapsf": cv.masked(sigmapsf, detected),
        "isdiffpos": cv.booleans(flux > 0, detected),
        "snr_psf": cv.masked(snr, detected),
        "snr": cv.masked(snr, detected),
        "band": cv.lookup(cv.floats(frame, "fid"), BANDS),
    })
    return frame


def ztf_survey(max_schemas: int = 64, verify_cutouts: bool = True) -> Survey:
    """The ZTF survey with a decoder (and schema cache) of its own."""
    decoder = ZtfDecoder(max_schemas, verify_cutouts)
    return Survey(
        name="ZTF", decode=decoder, object_key=decoder.object_key, alert_id_field="candid",
        object_id_field="objectId", object_id_type=str, bands=tuple(BANDS.values()),
        dec_range=(-30.0, 90.0), position_uncertainty_arcsec=2.0,
        data_rights_field="programid",
    )
