"""An object's light curve as it stood when each alert arrived.

Stages that look back in time (light-curve features, filters) need, per alert, the
object's points known to the archive plus those the batch brings, without anything
later than the alert itself (a replay must see what the live run saw). This module
builds that once, as one table, for the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from boom_flow.core.batch import AlertBatch, KnownHistory, table_from_records

#: The history arrays of a packet and of an aux document, in the order they are
#: written (the detections first).
HISTORY_KINDS = ("prv_candidates", "prv_nondetections", "fp_hists")
#: The fields that tell two detections of one epoch apart (ZTF, LSST): an object can
#: have two at the same ``jd`` (two sources deblended in one exposure), both kept.
POINT_ID_FIELDS = ("candid", "diaSourceId")
#: ``point_id`` of a point without one (non-detections, forced photometry).
NO_POINT_ID = -1
#: One point of a light curve: versions of it that agree on these are one.
_POINT_KEY = ["objectId", "jd", "_point"]
#: What every table of points keeps besides the fields asked for.
_KEYS = ("objectId", "jd")
#: ... and, before the versions of a point are told apart, what ranks them.
_RANKS = ("_richness", "_point")


def point_id(point: Mapping[str, Any]) -> int:
    """The detection id of a stored point (``NO_POINT_ID`` without one).

    >>> point_id({"jd": 1.0, "candid": 7}), point_id({"jd": 1.0, "candid": None})
    (7, -1)
    """
    for name in POINT_ID_FIELDS:
        value = point.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return NO_POINT_ID


def point_ids(frame: pd.DataFrame) -> np.ndarray:
    """``point_id`` of every row of a history or candidates table (int64)."""
    ids = np.full(len(frame), NO_POINT_ID, dtype=np.int64)
    for name in reversed(POINT_ID_FIELDS):  # the first field wins where both are set
        if name in frame.columns:
            values = pd.to_numeric(frame[name], errors="coerce")
            present = values.notna().to_numpy()
            ids[present] = values[present].to_numpy(dtype=np.int64)
    return ids


def _object_ids(batch: AlertBatch) -> np.ndarray:
    """The alerts' object ids as exact Python values (None where absent): NumPy would
    turn an int64 column with a null into floats, merging LSST ids that differ in the
    last digits."""
    return np.array(batch.alerts["objectId"].astype(object).tolist(), dtype=object)


def object_points(batch: AlertBatch, kind: str,
                  columns: Sequence[str] | None = None) -> pd.DataFrame:
    """All points of ``kind`` for the batch's objects: archive + packets (+ the batch's
    own candidates for ``prv_candidates``), one row per (objectId, jd).

    Where the same detection (same ``jd`` and ``point_id``) appears more than once, the
    richest version wins (the alert's own candidate over a history entry of a later
    packet), as in the archive. ``columns`` keeps only those fields (besides
    ``objectId`` and ``jd``): richness is judged on every field all the same, but the
    tables are cut before they are stacked, which is most of the cost on wide ZTF rows.
    """
    if kind not in HISTORY_KINDS:
        raise ValueError(f"unknown history kind {kind!r}; one of {', '.join(HISTORY_KINDS)}")
    ranked = [part if columns is None else _only(part, (*_KEYS, *columns, *_RANKS))
              for part in batch.view(f"packet_points:{kind}", partial(_packet_points, kind))]
    stored, read = (_stored_points(batch.known, kind, columns) if batch.known is not None
                    else (None, []))
    if stored is not None:
        ranked.insert(0, stored)
    if not ranked:
        return pd.DataFrame({"objectId": pd.Series(dtype=object), "jd": pd.Series(dtype=float)})
    points = pd.concat(ranked, ignore_index=True)
    _rank_rivals(points, read)
    # Points without an object (solar-system sources) belong to no light curve.
    points = points[points["objectId"].notna().to_numpy()]
    points = (points.sort_values(["objectId", "jd", "_richness"], ascending=[True, True, False],
                                 kind="stable")
              .drop_duplicates(_POINT_KEY)
              .drop(columns=["_richness", "_point"])
              .reset_index(drop=True))
    return points


def _packet_points(kind: str, batch: AlertBatch) -> list[pd.DataFrame]:
    """The packets' points of ``kind`` (and the alerts' own candidates for
    ``prv_candidates``), every field kept, ranked: made once per batch. The features
    and the photometry statistics each ask for a few fields, and counting the
    non-null fields of the wide rows costs more than the rest of their reads."""
    parts = [getattr(batch, kind)]
    if kind == "prv_candidates":
        parts.append(batch.candidates.assign(objectId=_object_ids(batch)))
    return [_ranked(part, kind, None) for part in parts if _has_points(part)]


def _ranked(part: pd.DataFrame, kind: str, columns: Sequence[str] | None) -> pd.DataFrame:
    """``part`` (cut to ``columns``) with ``jd`` as floats, ``objectId`` as Python values,
    and what picks the version of a point to keep: ``_richness`` (its non-null fields)
    and ``_point`` (its detection id)."""
    richness = part.notna().sum(axis=1).to_numpy()
    ids = point_ids(part) if kind == "prv_candidates" else NO_POINT_ID
    if columns is not None:
        part = _only(part, (*_KEYS, *columns))
    return part.assign(jd=part["jd"].astype("float64"), objectId=part["objectId"].astype(object),
                       _richness=richness, _point=ids)


def _has_points(table: pd.DataFrame | None) -> bool:
    return table is not None and len(table) > 0 and {"objectId", "jd"} <= set(table.columns)


def _stored_points(known: KnownHistory, kind: str, columns: Sequence[str] | None
                   ) -> tuple[pd.DataFrame | None, list[Mapping[str, Any]]]:
    """The archive's points of ``kind`` ranked like ``_ranked`` does (``None`` without
    points), and the stored points they were read from (empty when ``known`` came
    with tables). Read from the aux documents, the table has only ``columns``, and
    its ``_richness`` is left to ``_rank_rivals``."""
    table = getattr(known, kind)
    if table is not None:
        return (_ranked(table, kind, columns) if _has_points(table) else None), []
    points = [point for document in known.documents for point in document.get(kind) or ()]
    if not any("jd" in point for point in points):
        return None, []
    owners = [document["_id"] for document in known.documents
              for _ in document.get(kind) or ()]
    if columns is None:
        whole = table_from_records([{**point, "objectId": owner}
                                    for point, owner in zip(points, owners, strict=True)])
        return _ranked(whole, kind, None), []
    fields = [name for name in dict.fromkeys(("jd", *columns))
              if name != "objectId" and any(name in point for point in points)]
    part = table_from_records(points, fields)
    part.insert(0, "objectId", pd.Series(owners, dtype=object))
    ids = [point_id(point) for point in points] if kind == "prv_candidates" else NO_POINT_ID
    return part.assign(jd=part["jd"].astype("float64"), _richness=0, _point=ids), points


def _rank_rivals(points: pd.DataFrame, read: list[Mapping[str, Any]]) -> None:
    """Set ``_richness`` of the first ``len(read)`` rows of ``points`` (the archive's,
    from ``read``) where another version of the same point competes. Only there does
    it decide anything, and counting every field of every stored point of a deep
    light curve cost more than the rest of the read."""
    if not read:
        return
    rivals = np.flatnonzero(points.duplicated(_POINT_KEY, keep=False).to_numpy()[:len(read)])
    if len(rivals):
        richness = points["_richness"].to_numpy(dtype=np.int64, copy=True)
        richness[rivals] = [_filled(read[row]) for row in rivals]
        points["_richness"] = richness


def _filled(point: Mapping[str, Any]) -> int:
    """The non-null fields of a stored point as a table row counts them (``objectId``,
    always set from its document, included; NaN is null)."""
    return 1 + sum(1 for name, value in point.items()
                   if name != "objectId" and value is not None and value == value)


def _only(frame: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    """``frame`` cut to those of ``fields`` it has, in that order, each once."""
    return frame[[name for name in dict.fromkeys(fields) if name in frame]]


def points_until_alert(batch: AlertBatch, kind: str,
                       columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``object_points`` joined to the alerts: one row per (alert, point) with the point's
    ``jd`` not after the alert's; ``alert`` is the alert's row number in the batch.

    An alert without an object (an LSST solar-system source: ``ssObjectId`` only) has
    no light curve but its own detection: it shares nothing with the other such alerts
    (a join on a null ``objectId`` would make them one object)."""
    points = object_points(batch, kind, columns)
    alerts = pd.DataFrame({
        "alert": range(len(batch)),
        "objectId": _object_ids(batch),
        "alert_jd": batch.candidates["jd"].to_numpy(dtype="float64", na_value=float("nan")),
    })
    joined = alerts.merge(points, on="objectId", how="inner")
    alone = alerts["objectId"].isna().to_numpy()
    if kind == "prv_candidates" and alone.any():
        own = batch.candidates.iloc[np.flatnonzero(alone)].reset_index(drop=True)
        if columns is not None:
            own = _only(own, ("jd", *columns))
        joined = pd.concat([joined, alerts[alone].reset_index(drop=True).join(own)],
                           ignore_index=True)
    return joined[joined["jd"] <= joined["alert_jd"]].reset_index(drop=True)
