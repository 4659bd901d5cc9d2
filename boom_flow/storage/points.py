"""A batch's history points, indexed for the archive's merge and the filters' documents.

Pure (no database): ``storage.history`` merges these points into ``{S}_alerts_aux``;
``filters.documents`` builds the light curve each filter sees from the same index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from boom_flow.core.batch import AlertBatch
from boom_flow.core.history import HISTORY_KINDS, NO_POINT_ID, point_id, point_ids
from boom_flow.storage.documents import (
    column_values,
    distinct_alerts,
    float_column,
    plain_records,
)

#: ``kind`` of a point: an entry of a packet's history, or an alert's own candidate.
HISTORY, CANDIDATE = 0, 1
Point = tuple[float, dict[str, Any]]  # (jd, the point as stored)
#: What identifies a point: two detections of one ``jd`` (two ids) are two points.
KEY = ["array", "objectId", "jd", "point"]


@dataclass(frozen=True)
class IncomingPoints:
    """Every history point a batch brings, indexed by a small table so that dedup and
    selection are vectorised and only the points that will be written become dicts.

    ``index`` columns: ``array``, ``objectId``, ``jd``, ``point`` (``core.history.
    point_id`` for detections, else ``NO_POINT_ID``), ``kind``, ``fields`` (the
    number of fields the stored point will have), ``source`` and ``row`` (where its
    values are: a history table of the batch, or the candidate dicts).
    """

    index: pd.DataFrame
    tables: Mapping[str, pd.DataFrame]
    candidates: Sequence[dict[str, Any]]

    def points(self, selected: pd.DataFrame) -> list[dict[str, Any]]:
        """The point dicts of ``selected`` rows of the index, in their order."""
        out: list[Any] = [None] * len(selected)
        order = np.arange(len(selected))
        for source, positions in pd.Series(order).groupby(
                selected["source"].to_numpy(), sort=False).indices.items():
            rows = selected["row"].to_numpy()[positions]
            if source == "candidates":
                values = [self.candidates[row] for row in rows.tolist()]
            else:
                table = self.tables[source]
                values = plain_records(table.iloc[rows].drop(columns=["objectId"]))
            for position, value in zip(positions.tolist(), values, strict=True):
                out[position] = value
        return out


def incoming_points(tables: Mapping[str, pd.DataFrame], object_ids: Sequence[Any],
                    candidate_jd: np.ndarray,
                    candidates: Sequence[dict[str, Any]]) -> IncomingPoints:
    """Index the batch's history tables (keyed by array name) and its candidates,
    deduplicated by (array, object, ``jd``, point id): the candidate's version first,
    then the richer one, then the first seen."""
    parts = []
    for array in HISTORY_KINDS:
        table = tables.get(array)
        if table is None or not len(table) or "objectId" not in table.columns:
            continue
        parts.append(pd.DataFrame({
            "array": array, "objectId": pd.Series(column_values(table, "objectId"), dtype=object),
            "jd": float_column(table, "jd"),
            "point": point_ids(table) if array == "prv_candidates" else NO_POINT_ID,
            "kind": HISTORY,
            # every row of a table becomes a dict with all its columns but objectId
            "fields": len(table.columns) - 1, "source": array, "row": np.arange(len(table)),
        }))
    parts.append(pd.DataFrame({
        "array": "prv_candidates", "objectId": pd.Series(list(object_ids), dtype=object),
        "jd": candidate_jd,
        "point": np.array([point_id(c) for c in candidates], dtype=np.int64),
        "kind": CANDIDATE, "fields": [len(c) for c in candidates], "source": "candidates",
        "row": np.arange(len(candidates)),
    }))
    index = pd.concat(parts, ignore_index=True)
    # A point without an object or a finite jd cannot be placed in a light curve.
    index = index[index["objectId"].notna() & np.isfinite(index["jd"].to_numpy())]
    index = index.sort_values(["array", "objectId", "jd", "kind", "fields"],
                              ascending=[True, True, True, False, False], kind="stable")
    index = index.drop_duplicates(KEY).reset_index(drop=True)
    return IncomingPoints(index=index, tables=tables, candidates=candidates)


def batch_points(batch: AlertBatch) -> IncomingPoints:
    """``incoming_points`` of the batch's distinct alerts, made once per batch
    (``AlertBatch.view``): the filters' documents and the write index the same points."""
    return batch.view("incoming_points", _batch_points)


def _batch_points(batch: AlertBatch) -> IncomingPoints:
    distinct = distinct_alerts(batch)
    return incoming_points({array: getattr(batch, array) for array in HISTORY_KINDS},
                           distinct.object_ids, distinct.jd, distinct.candidates)
