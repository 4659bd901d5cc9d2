"""Batch tables -> BSON-ready Python values: records, coordinates, cleaned values.

Everything here is pure (no database), so the shape of what storage writes can be
tested without a server.

Non-finite floats (NaN, +-inf) are written as null. The batch contract already
makes NaN from a packet a null (``table_from_records`` builds Arrow arrays with
``from_pandas=True``, and the decoders' ``set_columns`` does the same for derived
columns), so a NaN that reaches storage is an artefact of a computation, not a
value the survey sent; and in MongoDB a NaN sorts below every number and cannot be
written as JSON by the API. Null is what filters and clients already treat as
"no measurement".
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from boom_flow.core.batch import AlertBatch
from boom_flow.crossmatch.sky import usable

#: Julian date of the Unix epoch.
UNIX_EPOCH_JD = 2440587.5

#: ICRS (J2000) equatorial -> Galactic rotation (Hipparcos definition, as in astropy):
#: rows are the Galactic x (to the centre), y (to l = 90) and z (to the north pole)
#: axes expressed in equatorial Cartesian coordinates.
ICRS_TO_GALACTIC = np.array([
    [-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
    [+0.4941094278755837, -0.4448296299600112, +0.7469822444972189],
    [-0.8676661490190047, -0.1980763734312015, +0.4559837761750669],
])


def jd_now() -> float:
    """The current time as a Julian date (UTC, as ``created_at`` is in BOOM)."""
    return time.time() / 86400.0 + UNIX_EPOCH_JD


def galactic(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Galactic longitude in [0, 360) and latitude (degrees) of ICRS ``ra``/``dec``.

    >>> l, b = galactic(np.array([192.85948]), np.array([27.12825]))
    >>> round(float(b[0]), 3)
    90.0
    """
    ra_rad, dec_rad = np.radians(ra), np.radians(dec)
    cos_dec = np.cos(dec_rad)
    xyz = np.stack([cos_dec * np.cos(ra_rad), cos_dec * np.sin(ra_rad), np.sin(dec_rad)])
    gx, gy, gz = ICRS_TO_GALACTIC @ xyz
    lon = np.degrees(np.arctan2(gy, gx)) % 360.0
    lat = np.degrees(np.arcsin(np.clip(gz, -1.0, 1.0)))
    return lon, lat


def float_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as float64 with NaN for nulls (all NaN when the column is absent)."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)


def coordinates(ra: np.ndarray, dec: np.ndarray) -> list[dict[str, Any] | None]:
    """``coordinates`` sub-documents; None where the position is unusable (a NaN in a
    GeoJSON point would make the 2dsphere index refuse the whole document)."""
    ra = np.asarray(ra, dtype=np.float64) % 360.0
    dec = np.asarray(dec, dtype=np.float64)
    lon, lat = galactic(ra, dec)
    valid = usable(ra, dec)
    out: list[dict[str, Any] | None] = []
    for ok, r, d, gl, gb in zip(valid.tolist(), ra.tolist(), dec.tolist(), lon.tolist(),
                                lat.tolist(), strict=True):
        out.append({"radec_geojson": {"type": "Point", "coordinates": [r - 180.0, d]},
                    "l": gl, "b": gb} if ok else None)
    return out


def stored_positions(documents: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """``ra``, ``dec`` (degrees) of documents holding ``coordinates`` as ``coordinates()``
    writes them (the inverse of its ``ra - 180`` longitude); NaN where a document has no
    usable point."""
    positions = np.full((len(documents), 2), np.nan)
    for row, document in enumerate(documents):
        try:
            lon, lat = document["coordinates"]["radec_geojson"]["coordinates"][:2]
            positions[row] = float(lon) + 180.0, float(lat)
        except (KeyError, TypeError, ValueError):
            continue
    return positions[:, 0], positions[:, 1]


def without_subfield(document: dict[str, Any], field: str, key: str) -> dict[str, Any]:
    """``document`` without ``field.key`` (a copy; ``field`` goes too when left empty).

    >>> without_subfield({"_id": 1, "aliases": {"ZTF": ["a"]}}, "aliases", "ZTF")
    {'_id': 1}
    """
    inner = document.get(field)
    if not isinstance(inner, dict) or key not in inner:
        return document
    rest = {k: v for k, v in inner.items() if k != key}
    result = {k: v for k, v in document.items() if k != field}
    if rest:
        result[field] = rest
    return result


def finite_or_null(table: pa.Table) -> pa.Table:
    """``table`` with NaN and infinities in float columns made nulls (the other
    columns untouched)."""
    for position, column in enumerate(table.schema):
        if pa.types.is_floating(column.type):
            values = table.column(position)
            table = table.set_column(position, column, pc.if_else(
                pc.is_finite(values), values, pa.scalar(None, column.type)))
    return table


def plain_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain Python dicts (exact ints, None for nulls and non-finite floats)."""
    if not len(frame):
        return []
    return finite_or_null(pa.Table.from_pandas(frame, preserve_index=False)).to_pylist()


def candidate_records(candidates: pd.DataFrame, schemas: Sequence[Any] | None,
                      schema_fields: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """One ``candidate`` dict per row, holding exactly the fields of that row's schema.

    A field the schema defines but the table lacks is left out (nothing is known of
    it); a row whose schema is unknown keeps every column, which is what the decoder
    produced for it.
    """
    records: list[dict[str, Any]] = [{}] * len(candidates)
    if not len(candidates):
        return records
    columns = list(candidates.columns)
    keys = pd.Series(list(schemas) if schemas is not None else [None] * len(candidates),
                     dtype=object)
    for schema, positions in keys.groupby(keys.fillna(""), sort=False).indices.items():
        fields = schema_fields.get(schema) if schema else None
        present = set(columns)
        selected = [f for f in fields if f in present] if fields is not None else columns
        rows = plain_records(candidates.iloc[positions][selected])
        for position, row in zip(positions.tolist(), rows, strict=True):
            records[position] = row
    return records


def clean_value(value: Any) -> Any:
    """A value BSON can hold: NumPy scalars and arrays to Python, non-finite floats and
    pandas' NA to None, mapping keys to strings (stages may put NumPy scores in their
    enrichments, which pymongo cannot encode)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return clean_value(value.item())
    if isinstance(value, Mapping):
        return {str(key): clean_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [clean_value(item) for item in value]
    return value


def column_values(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column as Python values (exact ints, None for nulls); Nones when absent."""
    if name not in frame.columns:
        return [None] * len(frame)
    return pa.array(frame[name]).to_pylist()


@dataclass(frozen=True)
class DistinctAlerts:
    """A batch's alerts as the archive writes them: one per alert id (a packet
    delivered twice in one batch is one alert), none without an id. The filter stage
    builds its documents from the same view, so both see the same alerts."""

    #: Their row positions in the batch.
    rows: np.ndarray
    alerts: pd.DataFrame
    #: Their candidates, as a table (``jd``, ``programid``...).
    table: pd.DataFrame
    #: ``candidate`` sub-documents and ``coordinates`` (None without a position).
    candidates: list[dict[str, Any]]
    places: list[dict[str, Any] | None]
    ids: list[Any]
    object_ids: list[Any]
    jd: np.ndarray
    #: Rows left out because their id came earlier in the batch.
    repeated: int = 0


def distinct_alerts(batch: AlertBatch) -> DistinctAlerts:
    """The batch's ``DistinctAlerts`` (made once per batch, ``AlertBatch.view``)."""
    return batch.view("distinct_alerts", _distinct_alerts)


def _distinct_alerts(batch: AlertBatch) -> DistinctAlerts:
    ids = pd.Series(column_values(batch.alerts, "_id"), dtype=object)
    repeated = ids.notna() & ids.duplicated()
    rows = np.flatnonzero((ids.notna() & ~repeated).to_numpy())
    alerts = batch.alerts.iloc[rows].reset_index(drop=True)
    table = batch.candidates.iloc[rows].reset_index(drop=True)
    schemas = column_values(alerts, "schema") if "schema" in alerts.columns else None
    return DistinctAlerts(
        rows=rows, alerts=alerts, table=table,
        candidates=candidate_records(table, schemas, batch.schema_fields),
        places=coordinates(float_column(table, "ra"), float_column(table, "dec")),
        ids=column_values(alerts, "_id"), object_ids=column_values(alerts, "objectId"),
        jd=float_column(table, "jd"), repeated=int(repeated.sum()))
