"""An object's light curve as it stood when each alert arrived.

Stages that look back in time (light-curve features, filters) need, per alert, the
object's points known to the archive plus those the batch brings, without anything
later than the alert itself (a replay must see what the live run saw). This module
builds that once, as one table, for the whole batch.
"""

from __future__ import annotations

import pandas as pd

from boom_flow.core.batch import AlertBatch

HISTORY_KINDS = ("prv_candidates", "prv_nondetections", "fp_hists")


def object_points(batch: AlertBatch, kind: str) -> pd.DataFrame:
    """All points of ``kind`` for the batch's objects: archive + packets (+ the batch's
    own candidates for ``prv_candidates``), one row per (objectId, jd).

    Where the same epoch appears more than once, the richest version wins (the alert's
    own candidate over a history entry of a later packet), as in the archive.
    """
    if kind not in HISTORY_KINDS:
        raise ValueError(f"unknown history kind {kind!r}; one of {', '.join(HISTORY_KINDS)}")
    parts = [getattr(batch, kind)]
    if batch.known is not None:
        parts.insert(0, getattr(batch.known, kind))
    if kind == "prv_candidates":
        own = batch.candidates.assign(objectId=batch.alerts["objectId"].to_numpy())
        parts.append(own)
    parts = [p for p in parts if len(p) and {"objectId", "jd"} <= set(p.columns)]
    if not parts:
        return pd.DataFrame({"objectId": pd.Series(dtype=object), "jd": pd.Series(dtype=float)})
    points = pd.concat([p.astype({"jd": "float64"}) for p in parts], ignore_index=True)
    richness = points.notna().sum(axis=1)
    points = (points.assign(_richness=richness)
              .sort_values(["objectId", "jd", "_richness"], ascending=[True, True, False],
                           kind="stable")
              .drop_duplicates(["objectId", "jd"])
              .drop(columns="_richness")
              .reset_index(drop=True))
    return points


def points_until_alert(batch: AlertBatch, kind: str) -> pd.DataFrame:
    """``object_points`` joined to the alerts: one row per (alert, point) with the point's
    ``jd`` not after the alert's; ``alert`` is the alert's row number in the batch."""
    points = object_points(batch, kind)
    alerts = pd.DataFrame({
        "alert": range(len(batch)),
        "objectId": batch.alerts["objectId"].to_numpy(dtype=object),
        "alert_jd": batch.candidates["jd"].to_numpy(dtype="float64", na_value=float("nan")),
    })
    points = points.astype({"objectId": object})
    joined = alerts.merge(points, on="objectId", how="inner")
    return joined[joined["jd"] <= joined["alert_jd"]].reset_index(drop=True)
