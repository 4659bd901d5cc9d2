"""An object and its alerts' cutouts as one user may see them (routes and notebooks).

Everything is read through the user's views (``archive``): an alert of a programid the
user may not see has no cutouts and no object page for them, exactly as if it did not
exist. ``routes.surveys`` serves these as JSON or PNG; ``boom_flow.explore`` gives them
to notebooks.
"""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from boom_flow.api import archive
from boom_flow.api.rights import Rights
from boom_flow.core.history import HISTORY_KINDS
from boom_flow.storage import collection_names
from boom_flow.surveys import Survey

#: ``which`` -> how to order an object's alerts to pick one.
WHICH = {
    "first": [("candidate.jd", 1)], "last": [("candidate.jd", -1)],
    "brightest": [("candidate.magpsf", 1)], "faintest": [("candidate.magpsf", -1)],
}


def pick_alert(db: Database, survey: Survey, rights: Rights, query: dict[str, Any],
               sort: list[tuple[str, int]] | None) -> dict[str, Any] | None:
    """The first alert of the user's view matching ``query`` in ``sort`` order."""
    name = collection_names(survey.name)["alerts"]
    found = list(archive.find(db, name, rights, query, projection={"candidate.jd": 1},
                              sort=sort, limit=1))
    return found[0] if found else None


def object_alert_query(survey: Survey, object_id: Any, which: str, band: str | None
                       ) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """(query, sort) picking an object's ``which`` alert, optionally in one band."""
    query: dict[str, Any] = {"objectId": object_id}
    if band:
        query["candidate.band"] = band
    if which in ("brightest", "faintest"):
        query["candidate.magpsf"] = {"$ne": None}
    return query, WHICH[which]


def stamps(db: Database, survey: Survey, candids: list[Any]) -> dict[Any, dict[str, Any]]:
    """Cutout documents by alert id (the alerts must already be checked for rights)."""
    collection = db[collection_names(survey.name)["alerts_cutouts"]]
    found = collection.find({"_id": {"$in": candids}}, max_time_ms=archive.remaining_ms())
    return {doc["_id"]: doc for doc in found}


def object_view(db: Database, survey: Survey, object_id: Any, rights: Rights
                ) -> dict[str, Any] | None:
    """The object's alerts (no cutouts, by jd), light curve (detections, non-detections,
    forced photometry), cross-matches, aliases and latest classifications; None when
    the user's views hold nothing of it."""
    names = collection_names(survey.name)
    alerts = list(archive.find(db, names["alerts"], rights, {"objectId": object_id},
                               sort=[("candidate.jd", 1)]))
    aux = next(iter(archive.find(db, names["alerts_aux"], rights, {"_id": object_id},
                                 limit=1)), None)
    if not alerts and aux is None:
        return None
    aux = aux or {}
    latest = next((a["classifications"] for a in reversed(alerts) if a.get("classifications")),
                  {})
    return {
        "objectId": object_id, "object_id": object_id, "alerts": alerts,
        "candidate": alerts[-1].get("candidate") if alerts else None,
        **{field: aux.get(field, []) for field in HISTORY_KINDS},
        "cross_matches": aux.get("cross_matches", {}), "aliases": aux.get("aliases", {}),
        "classifications": latest,
        "coordinates": aux.get("coordinates") or (alerts[-1].get("coordinates") if alerts
                                                  else None),
    }
