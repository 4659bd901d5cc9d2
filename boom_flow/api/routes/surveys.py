"""``/surveys/{survey}``: cutouts (one or a batch) and the whole view of an object.

Everything is read through the user's views (``archive``): an alert of a programid
the user may not see has no cutouts and no object page for them, exactly as if it
did not exist (404).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from pymongo.database import Database

from boom_flow.api import archive
from boom_flow.api.auth import CurrentUser, User
from boom_flow.api.encoding import DocumentResponse, envelope
from boom_flow.api.errors import bad_request, not_found, too_large
from boom_flow.api.guards import SizeBudget
from boom_flow.api.state import api_state, query_slot
from boom_flow.storage import collection_names
from boom_flow.surveys import Survey, get_survey

router = APIRouter(prefix="/surveys/{survey}", tags=["surveys"], dependencies=[Depends(query_slot)])

CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
MAX_CANDIDS = 100
#: ``which`` -> how to order an object's alerts to pick one.
WHICH = {
    "first": [("candidate.jd", 1)], "last": [("candidate.jd", -1)],
    "brightest": [("candidate.magpsf", 1)], "faintest": [("candidate.magpsf", -1)],
}


class CutoutsQuery(BaseModel):
    candids: Annotated[list[int], Field(min_length=1)]


def _survey(name: str) -> Survey:
    try:
        return get_survey(name)
    except ValueError:
        raise not_found(f"survey {name!r} not found") from None


def _object_id(survey: Survey, object_id: str) -> Any:
    try:
        return survey.object_id_type(object_id)
    except ValueError:
        raise bad_request(f"{object_id!r} is not a {survey.name} object id") from None


def _pick_alert(db: Database, survey: Survey, user: User, query: dict[str, Any],
                sort: list[tuple[str, int]] | None) -> dict[str, Any]:
    name = collection_names(survey.name)["alerts"]
    found = list(archive.find(db, name, user.rights, query, projection={"candidate.jd": 1},
                              sort=sort, limit=1))
    if not found:
        raise not_found("no such alert")
    return found[0]


def _stamps(db: Database, survey: Survey, candids: list[Any]) -> dict[Any, dict[str, Any]]:
    """Cutout documents by alert id (the alerts were already checked for rights)."""
    collection = db[collection_names(survey.name)["alerts_cutouts"]]
    found = collection.find({"_id": {"$in": candids}}, max_time_ms=archive.remaining_ms())
    return {doc["_id"]: doc for doc in found}


@router.get("/cutouts", summary="The cutouts of one alert (by candid, or by object)")
def cutouts(request: Request, survey: str, user: CurrentUser, candid: int | None = None,
            objectId: str | None = None,  # BOOM's parameter name
            which: Literal["first", "last", "brightest", "faintest"] = "last",
            band: str | None = None) -> DocumentResponse:
    state = api_state(request)
    spec = _survey(survey)
    if (candid is None) == (objectId is None):
        raise bad_request("give either candid, or objectId (with which and optionally band)")
    with archive.time_budget(state.api.default_max_time_ms):
        if candid is not None:
            alert = _pick_alert(state.db, spec, user, {"_id": candid}, None)
        else:
            query: dict[str, Any] = {"objectId": _object_id(spec, objectId or "")}
            if band:
                query["candidate.band"] = band
            if which in ("brightest", "faintest"):
                query["candidate.magpsf"] = {"$ne": None}
            alert = _pick_alert(state.db, spec, user, query, WHICH[which])
        stamps = _stamps(state.db, spec, [alert["_id"]]).get(alert["_id"])
    if stamps is None:
        raise not_found(f"no cutouts stored for alert {alert['_id']}")
    data = {"candid": alert["_id"], **{name: stamps.get(name) for name in CUTOUTS}}
    return envelope(f"cutouts of alert {alert['_id']}", data)


@router.post("/cutouts", summary=f"The cutouts of up to {MAX_CANDIDS} alerts")
def cutouts_batch(request: Request, survey: str, body: CutoutsQuery,
                  user: CurrentUser) -> DocumentResponse:
    state = api_state(request)
    spec = _survey(survey)
    if len(body.candids) > MAX_CANDIDS:
        raise too_large(f"{len(body.candids)} candids; at most {MAX_CANDIDS} per request")
    with archive.time_budget(state.api.default_max_time_ms):
        alerts = archive.find(state.db, collection_names(spec.name)["alerts"], user.rights,
                              {"_id": {"$in": body.candids}}, projection={"candidate.jd": 1})
        jds = {alert["_id"]: (alert.get("candidate") or {}).get("jd") for alert in alerts}
        stamps = _stamps(state.db, spec, list(jds))
    found = [{"candid": candid, "jd": jds[candid], **{n: stamps[candid].get(n) for n in CUTOUTS}}
             for candid in dict.fromkeys(body.candids) if candid in stamps]
    SizeBudget(state.api.max_response_bytes).encode_all(found)
    return envelope(f"cutouts of {len(found)} of {len(body.candids)} alerts", {"cutouts": found})


@router.get("/objects/{object_id}", summary="An object: alerts, light curve, cross-matches")
def object_view(request: Request, survey: str, object_id: str,
                user: CurrentUser) -> DocumentResponse:
    state = api_state(request)
    spec = _survey(survey)
    oid = _object_id(spec, object_id)
    names = collection_names(spec.name)
    with archive.time_budget(state.api.default_max_time_ms):
        alerts = list(archive.find(state.db, names["alerts"], user.rights, {"objectId": oid},
                                   sort=[("candidate.jd", 1)]))
        aux = next(iter(archive.find(state.db, names["alerts_aux"], user.rights, {"_id": oid},
                                     limit=1)), None)
    if not alerts and aux is None:
        raise not_found(f"object {object_id!r} not found")
    aux = aux or {}
    latest = next((a["classifications"] for a in reversed(alerts) if a.get("classifications")),
                  {})
    data = {
        "objectId": oid, "object_id": oid, "alerts": alerts,
        "candidate": alerts[-1].get("candidate") if alerts else None,
        **{field: aux.get(field, []) for field in
           ("prv_candidates", "prv_nondetections", "fp_hists")},
        "cross_matches": aux.get("cross_matches", {}), "aliases": aux.get("aliases", {}),
        "classifications": latest,
        "coordinates": aux.get("coordinates") or (alerts[-1].get("coordinates") if alerts
                                                  else None),
    }
    SizeBudget(state.api.max_response_bytes).encode_all([data])
    return envelope(f"object {object_id}", data)


#: Surveys whose alerts name a solar-system object (``ssObjectId``).
SOLAR_SYSTEM_SURVEYS = frozenset({"LSST"})


@router.get("/ss_objects/{ss_object_id}",
            summary="A solar-system object: its alerts, ssSource records and MPC orbit")
def solar_system_object(request: Request, survey: str, ss_object_id: int,
                        user: CurrentUser) -> DocumentResponse:
    """What the archive holds of a known asteroid (``ssObjectId``): its alerts in time
    order (most have no ``objectId``, so no aux document and no object page), each
    one's ``ssSource``, and the latest MPC orbit a packet carried."""
    state = api_state(request)
    spec = _survey(survey)
    if spec.name not in SOLAR_SYSTEM_SURVEYS:
        raise not_found(f"{spec.name} alerts name no solar-system objects")
    names = collection_names(spec.name)
    with archive.time_budget(state.api.default_max_time_ms):
        alerts = list(archive.find(state.db, names["alerts"], user.rights,
                                   {"ssObjectId": ss_object_id}, sort=[("candidate.jd", 1)]))
    if not alerts:
        raise not_found(f"solar-system object {ss_object_id} not found")
    orbit = next((a["mpc_orbits"] for a in reversed(alerts) if a.get("mpc_orbits")), None)
    data = {
        "ssObjectId": ss_object_id, "alerts": alerts,
        "ssSource": [a["ssSource"] for a in alerts if a.get("ssSource")],
        "mpc_orbits": orbit,
        "designation": next((a["ssSource"].get("designation") for a in reversed(alerts)
                             if (a.get("ssSource") or {}).get("designation")), None),
    }
    SizeBudget(state.api.max_response_bytes).encode_all([data])
    return envelope(f"solar-system object {ss_object_id}", data)
