"""LSST (Rubin): wire-format packets and Avro containers (schema 7.x to 11.x) ->
``AlertBatch``.

A packet is either one alert in Rubin's Kafka wire format (``0x00``, a 4-byte
big-endian schema id ``major * 100 + minor``, schemaless Avro) whose schema comes
from ``lsst_schemas.SchemaResolver``, or an Avro container file (several alerts,
schema inside, cached like ZTF's).

Conversions (``data-model.md``, following BOOM ``src/alert/lsst.rs``): the
``diaSource`` fields as they are (Rubin's own ``snr`` included; ``diaObjectId`` and
``ssObjectId`` of 0, Rubin 7.x's "none", become null), plus ``jd`` (UTC, from
``midpointMjdTai`` on the TAI scale), ``magpsf``/``sigmapsf`` and ``magap``/``sigmagap``
from the absolute fluxes at 31.4 (1 nJy), ``diffmaglim`` (5 sigma of ``psfFluxErr``),
``isdiffpos = psfFlux > 0``, ``snr_psf``, ``snr_ap``, ``chipsf = psfChi2 / psfNdata``;
the candidate also gets ``jdstarthist`` and ``ndethist`` from the ``diaObject`` (9.0+).
Solar-system sources: the packet's ``ssSource`` and its MPC orbit (``mpc_orbits``,
10.0+; ``MPCORB`` in 9.0) become the per-alert columns ``ssSource`` and ``mpc_orbits``
(``SOLAR_SYSTEM``), which the archive stores in the alert document; an alert with an
``ssObjectId`` and no ``diaObjectId`` (a known asteroid, no object) is found by its
``ssObjectId``.
History: ``prvDiaSources`` -> ``prv_candidates`` (same conversions),
``prvDiaForcedSources`` -> ``fp_hists`` (magnitudes above SNR 3 only),
``prvDiaNondetectionLimits`` (7.x) -> ``prv_nondetections`` (limit from ``diaNoise``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from boom_flow.core.batch import AlertBatch, RawPacket, Rejection, table_from_records
from boom_flow.surveys import conversions as cv
from boom_flow.surveys.base import (
    Survey,
    cutouts_table,
    describe_error,
    history_tables,
    record_position,
    reject,
)
from boom_flow.surveys.container import (
    ContainerError,
    SchemaCache,
    WriterSchema,
    is_container,
    peek_container,
    read_container,
    read_schemaless,
)
from boom_flow.surveys.lsst_schemas import (
    LsstSchemaInfo,
    SchemaResolver,
    UnknownSchema,
    describe_schema,
)
from boom_flow.surveys.peek import OBJECT_ID_PEEK

BANDS = ("u", "g", "r", "i", "z", "y")
#: Fields the decoder adds to every ``diaSource`` (candidate and history).
SOURCE_FIELDS = ("jd", "magpsf", "sigmapsf", "magap", "sigmagap", "diffmaglim", "isdiffpos",
                 "snr_psf", "snr_ap", "chipsf")
#: Added to the candidate when the schema's ``diaObject`` has what they come from.
OBJECT_FIELDS = {"jdstarthist": "firstDiaSourceMjdTai", "ndethist": "nDiaSources"}
WIRE_MAGIC = 0
#: Per-alert records of the packet kept whole: stored name -> the packet's names for it.
SOLAR_SYSTEM = {"ssSource": ("ssSource",), "mpc_orbits": ("mpc_orbits", "MPCORB")}
ALERT_TYPES = {"_id": pa.int64(), "objectId": pa.int64(), "ssObjectId": pa.int64(),
               "schema": pa.string(), "source": pa.string(), "position": pa.string(),
               "timestamp_ms": pa.int64()}


class LsstDecoder:
    """Callable ``Sequence[RawPacket] -> AlertBatch`` holding the schema resolver (for
    wire-format packets) and the container schema cache (for OCF packets)."""

    def __init__(self, resolver: SchemaResolver, max_schemas: int = 64) -> None:
        self.resolver = resolver
        self.containers: SchemaCache[LsstSchemaInfo] = SchemaCache(describe_schema, max_schemas)

    def records(self, packet: RawPacket) -> tuple[WriterSchema[LsstSchemaInfo], list[dict]]:
        """The alert records of one packet and their schema; raises when it cannot."""
        data = packet.data
        if is_container(data):
            container = read_container(data, self.containers)
            return container.schema, container.records
        if len(data) < 5 or data[0] != WIRE_MAGIC:
            raise ContainerError(f"starts with {data[:5]!r}: neither Rubin's wire format "
                                 "(0x00 + 4-byte schema id) nor an Avro container")
        schema = self.resolver.get(int.from_bytes(data[1:5], "big"))
        return schema, [read_schemaless(data[5:], schema)]

    def object_key(self, packet: RawPacket) -> int | None:
        """The packet's ``diaObjectId``, without decoding it; None when it cannot be read
        or the alert has none (a solar-system source)."""
        data = packet.data
        try:
            if is_container(data):
                key = peek_container(data, self.containers, OBJECT_ID_PEEK)
            elif len(data) >= 5 and data[0] == WIRE_MAGIC:
                peek = self.resolver.get(int.from_bytes(data[1:5], "big")).info.object_id
                key = peek(data, 5) if peek is not None else None
            else:
                return None
        except Exception:
            return None
        return key or None

    def __call__(self, packets: Sequence[RawPacket]) -> AlertBatch:
        parts = _Parts()
        for packet in packets:
            try:
                schema, records = self.records(packet)
            except UnknownSchema as error:
                parts.rejected.append(reject(packet, str(error)))
                continue
            except Exception as error:  # any decode failure rejects this packet only
                parts.rejected.append(
                    reject(packet, f"undecodable LSST packet: {describe_error(error)}"))
                continue
            if not records:
                parts.rejected.append(reject(packet, "LSST container holds no alert"))
            for index, record in enumerate(records):
                problem = missing_fields(record)
                if problem:
                    parts.rejected.append(reject(packet, problem, index, len(records)))
                else:
                    parts.add(packet, record_position(packet, index, len(records)), record,
                              schema.info)
        return parts.assemble()


def missing_fields(record: dict[str, Any]) -> str | None:
    """Why a decoded record is not a usable LSST alert, or None."""
    source = record.get("diaSource")
    if not isinstance(source, dict):
        return "LSST alert has no diaSource"
    alert_id = source.get("diaSourceId")
    if alert_id is None:
        return "LSST alert has no diaSource.diaSourceId"
    if not source.get("diaObjectId") and not source.get("ssObjectId"):
        return f"LSST alert {alert_id} has neither a diaObjectId nor an ssObjectId"
    if source.get("midpointMjdTai") is None:
        return f"LSST alert {alert_id}: diaSource lacks midpointMjdTai"
    return None


class _Parts:
    """What the records of a batch contribute, gathered before the columnar pass."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.sources: list[dict[str, Any]] = []
        self.first_mjd: list[float | None] = []
        self.n_sources: list[int | None] = []
        self.previous: list[list[dict[str, Any]] | None] = []
        self.forced: list[list[dict[str, Any]] | None] = []
        self.limits: list[list[dict[str, Any]] | None] = []
        self.stamps: list[tuple[Any, Any, Any]] = []
        self.solar_system: dict[str, list[dict[str, Any] | None]] = {
            name: [] for name in SOLAR_SYSTEM}
        self.schema_fields: dict[str, tuple[str, ...]] = {}
        self.rejected: list[Rejection] = []

    def add(self, packet: RawPacket, position: str, record: dict[str, Any],
            info: LsstSchemaInfo) -> None:
        source = record["diaSource"]
        self.alerts.append({
            "_id": source["diaSourceId"], "objectId": source.get("diaObjectId") or None,
            "ssObjectId": source.get("ssObjectId") or None, "schema": info.version,
            "source": packet.source, "position": position, "timestamp_ms": packet.timestamp_ms,
        })
        self.sources.append(source)
        dia_object = record.get("diaObject") or {}
        self.first_mjd.append(dia_object.get("firstDiaSourceMjdTai"))
        self.n_sources.append(dia_object.get("nDiaSources"))
        self.previous.append(record.get("prvDiaSources"))
        self.forced.append(record.get("prvDiaForcedSources"))
        self.limits.append(record.get("prvDiaNondetectionLimits"))
        self.stamps.append((record.get("cutoutScience"), record.get("cutoutTemplate"),
                            record.get("cutoutDifference")))
        for name, origins in SOLAR_SYSTEM.items():
            self.solar_system[name].append(
                next((record[o] for o in origins if record.get(o) is not None), None))
        if info.version not in self.schema_fields:
            extra = tuple(name for name, origin in OBJECT_FIELDS.items()
                          if origin in info.object_fields)
            self.schema_fields[info.version] = info.source_fields + SOURCE_FIELDS + extra

    def assemble(self) -> AlertBatch:
        alerts = table_from_records(self.alerts, columns=[
            "_id", "objectId", "ssObjectId", "schema", "source", "position", "timestamp_ms"])
        cv.fill_types(alerts, ALERT_TYPES)
        candidates = table_from_records(self.sources)
        convert_sources(candidates)
        if len(candidates):
            first = np.array(self.first_mjd, dtype=np.float64)
            counts = np.array(self.n_sources, dtype=np.float64)
            cv.set_columns(candidates, {
                "jdstarthist": cv.masked(cv.mjd_tai_to_jd_utc(first), first > 0),
                "ndethist": cv.integers(counts),
            })
        object_ids = [alert["objectId"] for alert in self.alerts]
        previous = history_tables(self.previous, object_ids)
        convert_sources(previous)
        forced = convert_forced(history_tables(self.forced, object_ids))
        limits = convert_limits(history_tables(self.limits, object_ids))
        cutouts = cutouts_table([a["_id"] for a in self.alerts], *zip(*self.stamps, strict=True)) \
            if self.stamps else cutouts_table([], [], [], [])
        return AlertBatch(
            survey="LSST", alerts=alerts, candidates=candidates, prv_candidates=previous,
            prv_nondetections=limits, fp_hists=forced, cutouts=cutouts,
            schema_fields=self.schema_fields, rejected=tuple(self.rejected),
            enrichments={name: pd.Series(values, index=alerts.index, dtype=object)
                         for name, values in self.solar_system.items()},
        )


def convert_sources(frame: pd.DataFrame) -> None:
    """``diaSource`` conversions, in place (candidates and ``prvDiaSources``)."""
    if not len(frame):
        return
    flux, error = cv.floats(frame, "psfFlux"), cv.floats(frame, "psfFluxErr")
    ap_flux, ap_error = cv.floats(frame, "apFlux"), cv.floats(frame, "apFluxErr")
    magpsf, sigmapsf = cv.flux_to_mag(flux, error, cv.LSST_ZP_NJY)
    magap, sigmagap = cv.flux_to_mag(ap_flux, ap_error, cv.LSST_ZP_NJY)
    ndata = cv.floats(frame, "psfNdata")
    cv.set_columns(frame, {
        "diaObjectId": cv.null_if_zero(cv.arrow(frame, "diaObjectId")),
        "ssObjectId": cv.null_if_zero(cv.arrow(frame, "ssObjectId")),
        "jd": cv.mjd_tai_to_jd_utc(cv.floats(frame, "midpointMjdTai")),
        "magpsf": magpsf, "sigmapsf": sigmapsf,
        "magap": magap, "sigmagap": sigmagap,
        "diffmaglim": cv.flux_error_to_limit(error, cv.LSST_ZP_NJY),
        "isdiffpos": cv.booleans(flux > 0, np.isfinite(flux)),
        "snr_psf": cv.ratio(np.abs(flux), error),
        "snr_ap": cv.ratio(np.abs(ap_flux), ap_error),
        "chipsf": cv.masked(cv.ratio(cv.floats(frame, "psfChi2"), ndata), ndata > 0),
    })


def convert_forced(frame: pd.DataFrame) -> pd.DataFrame:
    """``prvDiaForcedSources``: points without a flux error dropped (nothing can be
    said of them), magnitudes and ``isdiffpos`` only above SNR 3."""
    if not len(frame):
        return frame
    keep = np.isfinite(cv.floats(frame, "psfFluxErr"))
    frame = frame.loc[keep].reset_index(drop=True)
    flux, error = cv.floats(frame, "psfFlux"), cv.floats(frame, "psfFluxErr")
    snr = cv.ratio(np.abs(flux), error)
    detected = snr > cv.SNT
    magpsf, sigmapsf = cv.flux_to_mag(flux, error, cv.LSST_ZP_NJY)
    cv.set_columns(frame, {
        "jd": cv.mjd_tai_to_jd_utc(cv.floats(frame, "midpointMjdTai")),
        "magpsf": cv.masked(magpsf, detected), "sigmapsf": cv.masked(sigmapsf, detected),
        "diffmaglim": cv.flux_error_to_limit(error, cv.LSST_ZP_NJY),
        "isdiffpos": cv.booleans(flux > 0, detected),
        "snr_psf": cv.masked(snr, detected), "snr": cv.masked(snr, detected),
    })
    return frame


def convert_limits(frame: pd.DataFrame) -> pd.DataFrame:
    """``prvDiaNondetectionLimits`` (7.x): ``diaNoise`` is the flux error (nJy)."""
    if len(frame):
        noise = cv.floats(frame, "diaNoise")
        cv.set_columns(frame, {
            "jd": cv.mjd_tai_to_jd_utc(cv.floats(frame, "midpointMjdTai")),
            "psfFluxErr": noise,
            "diffmaglim": cv.flux_error_to_limit(noise, cv.LSST_ZP_NJY),
        })
    return frame


def lsst_survey(schema_registry_url: str | None = None,
                schema_dir: str | Path | None = None, use_package: bool = True,
                max_schemas: int = 64) -> Survey:
    """The LSST survey reading schemas from these sources (see ``lsst_schemas``)."""
    resolver = SchemaResolver(schema_registry_url, schema_dir, use_package=use_package)
    decoder = LsstDecoder(resolver, max_schemas)
    return Survey(
        name="LSST", decode=decoder, object_key=decoder.object_key, alert_id_field="diaSourceId",
        object_id_field="diaObjectId", object_id_type=int, bands=BANDS,
        dec_range=(-90.0, 33.5), position_uncertainty_arcsec=0.1,
    )
