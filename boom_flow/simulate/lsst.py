"""LSST nights: Rubin's Kafka wire format (``0x00``, 4-byte schema id, schemaless Avro).

The Rubin schemas are GPL-3.0 and not part of the project: the simulator reads the
schema of the chosen version at run time from a folder laid out like Rubin's
``alert_packet`` repository (``<major>_<minor>/lsst.v<major>_<minor>.alert.avsc``),
the same folder the decoder reads (``surveys.lsst.schema_dir``). Records are filled
from the schema itself: the fields the simulator knows get values, every other
nullable field is null and every other required field a zero of its type, so any
schema version from 7.x on can be written.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema
import numpy as np

from boom_flow.simulate import avro, stamps
from boom_flow.simulate.columnar_avro import compact_spec, encode_rows
from boom_flow.simulate.plan import BOGUS, EXPOSURE_DAYS, MOVING, Plan, make_plan
from boom_flow.simulate.spec import NightSpec, SimulatedAlert
from boom_flow.surveys.lsst_schemas import schema_file

BANDS = ("u", "g", "r", "i", "z", "y")
BAND_WEIGHTS = np.array([0.05, 0.2, 0.25, 0.25, 0.15, 0.1])
DEC_RANGE = (-90.0, 33.5)
#: Rubin goes ~4.2 mag deeper than ZTF: the plan's (ZTF-like) magnitudes are shifted.
DEPTH_OFFSET = 4.2
ZP_NJY = 31.4
TAI_MINUS_UTC_DAYS = 37.0 / 86400.0
MJD_OFFSET = 2400000.5
CHUNK = 256
_ZEROS = {"double": 0.0, "float": 0.0, "int": 0, "long": 0, "boolean": False, "string": "",
          "bytes": b""}


class MissingSchema(FileNotFoundError):
    """The Rubin schema of the requested version is not in the folder given."""


@cache
def load_schema(schema_dir: str, version: str) -> tuple[int, Any]:
    """Schema id and parsed schema of ``version`` (``"7.1"``) from ``schema_dir``."""
    major, minor = (int(part) for part in version.split("."))
    path = schema_file(Path(schema_dir), major, minor)
    if not path.is_file():
        raise MissingSchema(f"no Rubin alert schema {version} at {path}; pass the folder of "
                            "Rubin schemas (lsst_schema_dir / --schema-dir)")
    return major * 100 + minor, fastavro.schema.load_schema(str(path))


def _named(parsed: Any, suffix: str) -> dict[str, Any] | None:
    for name, schema in parsed["__named_schemas"].items():
        if name.endswith("." + suffix):
            return schema
    return None


def defaults(record_schema: dict[str, Any] | None) -> dict[str, Any]:
    """Null for every nullable field, a zero of its type for every required one."""
    if record_schema is None:
        return {}
    out = {}
    for field in record_schema["fields"]:
        kind = field["type"]
        if isinstance(kind, list) and "null" in kind:
            out[field["name"]] = None
        elif isinstance(kind, str):
            out[field["name"]] = _ZEROS.get(kind)
    return out


class LsstNight:
    """A night of Rubin alerts for one schema version."""

    def __init__(self, spec: NightSpec) -> None:
        if spec.lsst_schema_dir is None:
            raise MissingSchema("LSST simulation needs the folder of Rubin schemas "
                                "(lsst_schema_dir / --schema-dir)")
        self.spec = spec
        self.schema_id, self.schema = load_schema(str(spec.lsst_schema_dir),
                                                  spec.lsst_schema_version)
        self.fields = {field["name"] for field in self.schema["fields"]}
        self.defaults = {name: defaults(_named(self.schema, name)) for name in
                         ("diaSource", "diaForcedSource", "diaNondetectionLimit", "diaObject")}
        rng = np.random.default_rng([spec.seed, 0])
        self.plan = plan = make_plan(spec, rng, len(BANDS), BAND_WEIGHTS, DEC_RANGE)
        self.columns = source_columns(plan, rng, spec.seed)
        key = plan.obj * 1e5 + (plan.jd - (plan.jd.min() if len(plan.jd) else 0.0))
        self.history_start = np.searchsorted(key, key - 365.0, side="right")
        self.layout = self._fast_layout()
        if self.layout is not None:
            self.encoded = self._encode_rows()
        else:  # records as dicts, for fastavro
            self.sources = self._rows("diaSource", SOURCE_FIELDS)
            self.forced = self._rows("diaForcedSource", FORCED_FIELDS)
            self.limits = self._rows("diaNondetectionLimit", LIMIT_FIELDS)

    def _rows(self, record: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
        base = self.defaults[record]
        if not base:
            return []
        present = tuple(name for name in names if name in base)
        return [{**base, **row} for row in records(self.columns, present)]

    def alerts(self) -> Iterator[SimulatedAlert]:
        rows = self.plan.alert_rows
        for index, start in enumerate(range(0, len(rows), CHUNK)):
            yield from self._chunk(index, rows[start:start + CHUNK])

    def _chunk(self, index: int, rows: np.ndarray) -> Iterator[SimulatedAlert]:
        plan, cols = self.plan, self.columns
        rng = np.random.default_rng([self.spec.seed, 1, index])
        flux_dn = cols["psfFlux"][rows] / 20.0
        images = stamps.make_images(rng, stamps.StampInputs(
            flux=flux_dn, ref_flux=np.abs(flux_dn) * rng.uniform(0.5, 5.0, len(rows)),
            ref_sigma=rng.uniform(1.2, 4.0, len(rows)), ref_dx=rng.normal(0, 1.5, len(rows)),
            ref_dy=rng.normal(0, 1.5, len(rows)), psf_sigma=plan.seeing[rows] / 2.355 * 2.0,
            sky=rng.uniform(50, 300, len(rows)), noise=rng.uniform(5, 15, len(rows))))
        science, template, difference = ([stamps.fits_bytes(image) for image in stack]
                                         for stack in images)
        kinds = plan.kind_names(rows).tolist()
        objects = self._object_bytes(rows) if self.layout is not None else None
        for i, row in enumerate(rows.tolist()):
            cutouts = (science[i], template[i], difference[i])
            if objects is not None:
                payload = self._fast_record(row, objects[i], cutouts)
            else:  # a schema the fast path does not know: fastavro writes the dicts
                stream = io.BytesIO()
                fastavro.schemaless_writer(stream, self.schema, self._record(row, *cutouts))
                payload = stream.getvalue()
            object_id = cols["diaObjectId"][row] or cols["ssObjectId"][row]
            yield SimulatedAlert(packet=avro.wire_packet(self.schema_id, payload),
                                 alert_id=int(cols["diaSourceId"][row]), object_id=object_id,
                                 jd=float(plan.jd[row]), kind=kinds[i])

    def _fast_layout(self) -> list[tuple[str, str]] | None:
        """How each top-level field is written from pre-encoded parts, or None when the
        schema has something this does not know (then fastavro writes dicts)."""
        specs = {name: compact_spec(schema) if schema else ""
                 for name in RECORDS for schema in [_named(self.schema, name)]}
        if any(spec is None for spec in specs.values()):
            return None
        self.specs = specs
        layout = []
        for field in self.schema["fields"]:
            name, kind = field["name"], field["type"]
            nullable = isinstance(kind, list) and len(kind) == 2 and kind[0] == "null"
            if name in ("alertId", "diaSourceId") and kind == "long":
                layout.append((name, "id"))
            elif name == "diaSource" and isinstance(kind, dict):
                layout.append((name, "source"))
            elif name in HISTORY_FIELDS and nullable:
                layout.append((name, "history"))
            elif name == "diaObject" and nullable:
                layout.append((name, "object"))
            elif name.startswith("cutout") and nullable and kind[1] == "bytes":
                layout.append((name, "cutout"))
            elif nullable:
                layout.append((name, "null"))
            else:
                return None
        return layout

    def _encode_rows(self) -> dict[str, list[bytes]]:
        """Every observation's diaSource, diaForcedSource and limit, encoded once."""
        plan, cols = self.plan, self.columns
        n = len(plan.obj)
        moving = plan.obj_kind[plan.obj] == MOVING
        ids = {"diaObjectId": np.where(moving, 0, cols["diaObjectId"].astype(float)),
               "ssObjectId": np.where(moving, cols["ssObjectId"].astype(float), 0)}
        ids = {name: values.astype(np.int64) for name, values in ids.items()}
        values = {**cols, **ids}
        spec = self.specs["diaSource"]
        encoded = {"diaSource": encode_rows(
            spec, with_zeros(spec, {f: values[f] for f in SOURCE_FIELDS}, n),
            {"diaObjectId": moving, "ssObjectId": ~moving}, n)}
        for name, fields in (("diaForcedSource", FORCED_FIELDS),
                             ("diaNondetectionLimit", LIMIT_FIELDS)):
            spec = self.specs[name]
            encoded[name] = encode_rows(spec, with_zeros(spec, {f: values[f] for f in fields},
                                                         n), n=n) if spec else []
        return encoded

    def _object_bytes(self, rows: np.ndarray) -> list[bytes | None]:
        """The diaObject of each alert of a chunk (None for solar-system sources)."""
        plan, cols = self.plan, self.columns
        detected, mjd = plan.detected, cols["midpointMjdTai"]
        counts, first = [], []
        for row in rows.tolist():
            start = int(self.history_start[row])
            seen = np.flatnonzero(detected[start:row]) + start
            counts.append(1 + len(seen))
            first.append(min(mjd[row], *mjd[seen]) if len(seen) else mjd[row])
        moving = plan.obj_kind[plan.obj[rows]] == MOVING
        values = {"diaObjectId": np.where(moving, 0, cols["diaObjectId"][rows].astype(float)
                                          ).astype(np.int64),
                  "ra": cols["ra"][rows], "dec": cols["dec"][rows],
                  "nDiaSources": np.array(counts), "firstDiaSourceMjdTai": np.array(first),
                  "lastDiaSourceMjdTai": mjd[rows]}
        spec = self.specs["diaObject"]
        encoded = encode_rows(spec, with_zeros(spec, values, len(rows)), n=len(rows))
        return [None if m else data for m, data in zip(moving.tolist(), encoded, strict=True)]

    def _fast_record(self, row: int, dia_object: bytes | None,
                     cutouts: tuple[bytes, bytes, bytes]) -> bytes:
        """One alert's Avro bytes, field by field in schema order."""
        plan, encoded = self.plan, self.encoded
        start = int(self.history_start[row])
        detected = plan.detected[start:row]
        earlier = np.arange(start, row)
        moving = dia_object is None
        history = {
            "prvDiaSources": [encoded["diaSource"][r] for r in earlier[detected].tolist()],
            "prvDiaForcedSources": [] if moving or not encoded["diaForcedSource"]
            else encoded["diaForcedSource"][start:row],
            "prvDiaNondetectionLimits": [] if not encoded["diaNondetectionLimit"] else
            [encoded["diaNondetectionLimit"][r] for r in earlier[~detected].tolist()],
        }
        images = dict(zip(("cutoutScience", "cutoutTemplate", "cutoutDifference"), cutouts,
                          strict=True))
        parts = []
        for name, how in self.layout:
            if how == "id":
                parts.append(avro.encode_long(int(self.columns["diaSourceId"][row])))
            elif how == "source":
                parts.append(encoded["diaSource"][row])
            elif how == "history":
                parts.append(avro.optional_array(history.get(name, [])))
            elif how == "object":
                parts.append(b"\x00" if moving else b"\x02" + dia_object)
            elif how == "cutout":
                parts.append(b"\x02" + avro.encode_bytes(images[name]))
            else:
                parts.append(b"\x00")
        return b"".join(parts)

    def _record(self, row: int, science: bytes, template: bytes,
                difference: bytes) -> dict[str, Any]:
        plan = self.plan
        start = int(self.history_start[row])
        earlier = range(start, row)
        detected = plan.detected
        moving = plan.obj_kind[plan.obj[row]] == MOVING
        source = self.sources[row]
        record: dict[str, Any] = {name: None for name in self.fields}
        record.update({
            "diaSource": source,
            "prvDiaSources": [self.sources[r] for r in earlier if detected[r]] or None,
            "prvDiaForcedSources": None if moving else
            ([self.forced[r] for r in earlier] if self.forced else None) or None,
            "cutoutScience": science, "cutoutTemplate": template,
            "cutoutDifference": difference,
        })
        if "alertId" in self.fields:
            record["alertId"] = source["diaSourceId"]
        if "diaSourceId" in self.fields:
            record["diaSourceId"] = source["diaSourceId"]
        if "prvDiaNondetectionLimits" in self.fields and self.limits:
            record["prvDiaNondetectionLimits"] = [
                self.limits[r] for r in earlier if not detected[r]] or None
        if not moving:
            n_sources = 1 + sum(1 for r in earlier if detected[r])
            first = min((source["midpointMjdTai"],
                         *(self.sources[r]["midpointMjdTai"] for r in earlier if detected[r])))
            record["diaObject"] = {**self.defaults["diaObject"], **{
                name: value for name, value in (
                    ("diaObjectId", source["diaObjectId"]), ("ra", source["ra"]),
                    ("dec", source["dec"]), ("nDiaSources", n_sources),
                    ("firstDiaSourceMjdTai", first),
                    ("lastDiaSourceMjdTai", source["midpointMjdTai"]),
                ) if name in self.defaults["diaObject"]}}
        return record


def with_zeros(spec: str, columns: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """``columns`` limited to the record's fields, plus a zero of its type for every
    required field the simulator has no value for (what ``defaults`` gives dicts)."""
    out = {}
    for item in spec.split():
        name, code = item.split(":")
        if name in columns:
            out[name] = columns[name]
        elif code[0] not in "?^":
            out[name] = np.full(n, _ZEROS[_TYPE_NAMES[code]])
    return out


_TYPE_NAMES = {"l": "long", "i": "int", "f": "float", "d": "double", "s": "string",
               "b": "boolean"}
RECORDS = ("diaSource", "diaForcedSource", "diaNondetectionLimit", "diaObject")
HISTORY_FIELDS = ("prvDiaSources", "prvDiaForcedSources", "prvDiaNondetectionLimits")
OBJECT_FIELDS = ("diaObjectId", "ra", "dec", "nDiaSources", "firstDiaSourceMjdTai",
                 "lastDiaSourceMjdTai")
SOURCE_FIELDS = ("diaSourceId", "visit", "detector", "diaObjectId", "ssObjectId",
                 "midpointMjdTai", "ra", "raErr", "dec", "decErr", "x", "y", "apFlux",
                 "apFluxErr", "snr", "psfFlux", "psfFluxErr", "psfChi2", "psfNdata",
                 "extendedness", "reliability", "band", "isNegative", "scienceFlux",
                 "scienceFluxErr", "templateFlux", "templateFluxErr", "timeProcessedMjdTai",
                 "bboxSize", "trailNdata", "dipoleNdata", "exposureTime", "pixelFlags",
                 "pixelFlags_bad", "pixelFlags_cr", "pixelFlags_saturated")
FORCED_FIELDS = ("diaForcedSourceId", "diaObjectId", "ra", "dec", "visit", "detector",
                 "psfFlux", "psfFluxErr", "midpointMjdTai", "band", "scienceFlux",
                 "scienceFluxErr", "timeProcessedMjdTai")
LIMIT_FIELDS = ("ccdVisitId", "midpointMjdTai", "band", "diaNoise")


def records(columns: dict[str, np.ndarray], names: Sequence[str],
            rows: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Row dicts of ``names`` (plain Python values) from the columns, at ``rows``."""
    lists = [(columns[name] if rows is None else columns[name][rows]).tolist()
             for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]


#: Visit numbers count exposures from this date (2000-01-01).
VISIT_ZERO_JD = 2451544.5


def source_columns(plan: Plan, rng: np.random.Generator, seed: int) -> dict[str, np.ndarray]:
    """Rubin ``diaSource``/``diaForcedSource`` fields for every observation."""
    n = len(plan.obj)
    u = lambda low, high: rng.uniform(low, high, n)  # noqa: E731
    moving = plan.obj_kind[plan.obj] == MOVING
    mag = np.where(plan.detected, plan.mag, plan.true_mag) + DEPTH_OFFSET
    limit = plan.limit + DEPTH_OFFSET
    error = 10 ** (-0.4 * (limit - ZP_NJY)) / 5.0
    sign = np.where(plan.positive, 1.0, -1.0)
    flux = sign * 10 ** (-0.4 * (np.minimum(mag, 40.0) - ZP_NJY))
    flux = np.where(plan.detected, flux, flux + rng.normal(0, 1, n) * error)
    mjd = plan.jd - MJD_OFFSET + TAI_MINUS_UTC_DAYS
    # Visits are numbered from an absolute exposure count, so that every night of a seed
    # has its own (the plan's exposures count from its night), and offset by the seed.
    absolute = np.round((plan.jd - VISIT_ZERO_JD) / EXPOSURE_DAYS).astype(np.int64) % 10 ** 8
    visit = absolute + 10 ** 8 * (1 + seed % 1000)
    detector = (plan.obj * 7919 + seed) % 189
    seq = np.arange(n)
    object_base = (seed % 1000 + 1) * 10 ** 15
    object_id = object_base + plan.obj.astype(np.int64) * 13
    reference = 10 ** (-0.4 * (plan.obj_ref_mag[plan.obj] + DEPTH_OFFSET - ZP_NJY))
    return {
        "diaSourceId": (visit * 200 + detector) * 100_000 + seq % 100_000,
        "diaForcedSourceId": (visit * 200 + detector) * 100_000 + seq % 100_000 + 7,
        "ccdVisitId": visit * 200 + detector, "visit": visit, "detector": detector,
        "diaObjectId": np.where(moving, None, object_id).astype(object),
        "ssObjectId": np.where(moving, object_base + 5 + plan.obj * 13, None).astype(object),
        "midpointMjdTai": mjd, "ra": plan.ra, "dec": plan.dec,
        "raErr": u(1e-6, 3e-5), "decErr": u(1e-6, 3e-5), "x": u(10, 4000), "y": u(10, 4000),
        "psfFlux": flux, "psfFluxErr": error, "apFlux": flux * u(0.9, 1.1),
        "apFluxErr": error * u(1.0, 1.5), "snr": np.abs(flux) / error,
        "psfChi2": rng.lognormal(np.log(60), 0.5, n), "psfNdata": rng.integers(60, 400, n),
        "extendedness": u(0.0, 1.0), "reliability": np.where(
            plan.obj_kind[plan.obj] == BOGUS, rng.beta(1, 6, n), rng.beta(6, 1.5, n)),
        "band": np.asarray(BANDS)[plan.band], "isNegative": ~plan.positive,
        "scienceFlux": reference + np.maximum(flux, 0), "scienceFluxErr": error * 1.1,
        "templateFlux": reference, "templateFluxErr": error * 0.5,
        "timeProcessedMjdTai": mjd + u(0.0005, 0.002), "bboxSize": rng.integers(15, 60, n),
        "trailNdata": np.zeros(n, np.int64), "dipoleNdata": np.zeros(n, np.int64),
        "exposureTime": np.full(n, 30.0), "pixelFlags": np.zeros(n, bool),
        "pixelFlags_bad": np.zeros(n, bool), "pixelFlags_cr": rng.random(n) < 0.01,
        "pixelFlags_saturated": mag < 16.5, "diaNoise": error,
    }


def lsst_alerts(spec: NightSpec) -> Iterator[SimulatedAlert]:
    return LsstNight(spec).alerts()
