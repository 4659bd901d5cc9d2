"""``/surveys/{survey}``: cutouts (one or a batch) and the whole view of an object, as
JSON, and as pictures (``format=png`` cutouts, ``lightcurve.png``).

Everything is read through the user's views (``archive``): an alert of a programid
the user may not see has no cutouts and no object page for them, exactly as if it
did not exist (404).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from boom_flow.api import archive
from boom_flow.api.auth import CurrentUser, User
from boom_flow.api.encoding import DocumentResponse, envelope
from boom_flow.api.errors import bad_request, not_found, too_large
from boom_flow.api.guards import SizeBudget
from boom_flow.api.objects import (
    object_alert_query,
    object_view,
    pick_alert,
    stamps,
)
from boom_flow.api.state import api_state, query_slot
from boom_flow.core import CUTOUTS
from boom_flow.storage import collection_names
from boom_flow.surveys import Survey, get_survey

router = APIRouter(prefix="/surveys/{survey}", tags=["surveys"], dependencies=[Depends(query_slot)])

MAX_CANDIDS = 100
PNG = "image/png"


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


def _png(figure: Any) -> Response:
    from boom_flow.plotting import figure_png

    return Response(figure_png(figure), media_type=PNG,
                    headers={"Cache-Control": "private, max-age=60"})


@router.get("/cutouts", summary="The cutouts of one alert (by candid, or by object)",
            responses={200: {"content": {PNG: {}},
                             "description": "JSON (base64 FITS), or with format=png the "
                                            "science, reference and difference as one image"}})
def cutouts(request: Request, survey: str, user: CurrentUser, candid: int | None = None,
            objectId: str | None = None,  # BOOM's parameter name
            which: Literal["first", "last", "brightest", "faintest"] = "last",
            band: str | None = None,
            format: Literal["json", "png"] = "json") -> Response:
    state = api_state(request)
    spec = _survey(survey)
    if (candid is None) == (objectId is None):
        raise bad_request("give either candid, or objectId (with which and optionally band)")
    with archive.time_budget(state.api.default_max_time_ms):
        if candid is not None:
            alert = pick_alert(state.db, spec, user.rights, {"_id": candid}, None)
        else:
            query, sort = object_alert_query(spec, _object_id(spec, objectId or ""), which, band)
            alert = pick_alert(state.db, spec, user.rights, query, sort)
        if alert is None:
            raise not_found("no such alert")
        found = stamps(state.db, spec, [alert["_id"]]).get(alert["_id"])
    if found is None:
        raise not_found(f"no cutouts stored for alert {alert['_id']}")
    data = {"candid": alert["_id"], **{name: found.get(name) for name in CUTOUTS}}
    if format == "png":
        from boom_flow.plotting import plot_cutouts

        return _png(plot_cutouts(data, title=f"{spec.name} alert {alert['_id']}"))
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
        found_stamps = stamps(state.db, spec, list(jds))
    found = [{"candid": candid, "jd": jds[candid],
              **{n: found_stamps[candid].get(n) for n in CUTOUTS}}
             for candid in dict.fromkeys(body.candids) if candid in found_stamps]
    SizeBudget(state.api.max_response_bytes).encode_all(found)
    return envelope(f"cutouts of {len(found)} of {len(body.candids)} alerts", {"cutouts": found})


def _object(request: Request, survey: str, object_id: str, user: User
            ) -> tuple[Survey, dict[str, Any]]:
    state = api_state(request)
    spec = _survey(survey)
    oid = _object_id(spec, object_id)
    with archive.time_budget(state.api.default_max_time_ms):
        data = object_view(state.db, spec, oid, user.rights)
    if data is None:
        raise not_found(f"object {object_id!r} not found")
    return spec, data


@router.get("/objects/{object_id}", summary="An object: alerts, light curve, cross-matches")
def object_page(request: Request, survey: str, object_id: str,
                user: CurrentUser) -> DocumentResponse:
    _, data = _object(request, survey, object_id, user)
    SizeBudget(api_state(request).api.max_response_bytes).encode_all([data])
    return envelope(f"object {object_id}", data)


@router.get("/objects/{object_id}/lightcurve.png",
            summary="An object's light curve as a PNG (detections, limits, forced photometry)",
            response_class=Response, responses={200: {"content": {PNG: {}}}})
def light_curve_png(request: Request, survey: str, object_id: str,
                    user: CurrentUser) -> Response:
    from boom_flow.plotting import plot_light_curve

    spec, data = _object(request, survey, object_id, user)
    return _png(plot_light_curve(data, title=f"{spec.name} {object_id}"))


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
