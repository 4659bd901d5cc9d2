"""``/filters``: users' filters (create, read, change, version), back-tests on the
archive and recent results (filters.md).

The filter machinery lives in ``boom_flow.filters`` and is imported when a route
first needs it. Rules enforced here: a user sees and changes only their own filters
(admins: all); a filter's (or a back-test's) ZTF programids must be among the user's
own, so a filter can never become a way around the data rights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from boom_flow.api import archive
from boom_flow.api.auth import CurrentUser, User
from boom_flow.api.encoding import DocumentResponse, envelope
from boom_flow.api.errors import ApiError, bad_request, forbidden, not_found, too_large
from boom_flow.api.guards import SizeBudget, refuse_forbidden
from boom_flow.api.rights import ALIAS_HOLDERS, ZTF_PROGRAMIDS, view_stages
from boom_flow.api.routes.watchlists import owned_watchlist
from boom_flow.api.state import ApiState, api_state, query_slot
from boom_flow.storage import collection_names

router = APIRouter(prefix="/filters", tags=["filters"])

#: Longest back-test window (days of JD), api.md.
MAX_TEST_DAYS = 7.0
Pipeline = list[dict[str, Any]] | str


class Activation(BaseModel):
    """How a change that makes a pipeline live is checked (the activation guard)."""

    force: bool = Field(False, description="Activate even if the filter passes more than "
                        "filters.max_match_rate of the reference night (admins only).")
    reference_start_jd: float | None = Field(None, description="Reference JD range of the "
                                             "activation guard (default: the last night).")
    reference_end_jd: float | None = None

    def guard_options(self, user: User) -> dict[str, Any]:
        if self.force and not user.is_admin:
            raise forbidden("only an admin may activate a filter over "
                            "filters.max_match_rate (force)")
        given = (self.reference_start_jd, self.reference_end_jd)
        if (given[0] is None) != (given[1] is None):
            raise bad_request("give both reference_start_jd and reference_end_jd, or neither")
        reference = None if given[0] is None else (float(given[0]), float(given[1]))
        return {"force": self.force, "reference": reference}


class NewFilter(Activation):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    survey: str
    permissions: dict[str, list[int]] = Field(default_factory=dict)
    pipeline: Pipeline
    active: bool = True
    #: Run only on the alerts near one of this watchlist's targets (``/watchlists``).
    watchlist_id: str | None = None


class FilterChanges(Activation):
    active: bool | None = None
    active_fid: str | None = None
    name: Annotated[str, Field(min_length=1)] | None = None
    description: str | None = None
    permissions: dict[str, list[int]] | None = None
    #: Another of your watchlists ("" : none).
    watchlist_id: str | None = None


class NewVersion(Activation):
    pipeline: Pipeline


class FilterTest(BaseModel):
    survey: str
    permissions: dict[str, list[int]] = Field(default_factory=dict)
    pipeline: Pipeline
    start_jd: float
    end_jd: float
    object_ids: list[str | int] | None = None
    candids: list[int] | None = None
    limit: Annotated[int, Field(gt=0)] | None = None
    max_time_ms: Annotated[int, Field(gt=0)] | None = None
    explain: bool = Field(False, description="Instead of the passing outputs, how many "
                          "alerts enter and leave each stage, and for each alert id of "
                          "`trace` (default: `candids`) the stage and the false condition "
                          "that dropped it, with the values it saw.")
    trace: list[int] | None = None
    #: As a filter referring to this watchlist of yours would run.
    watchlist_id: str | None = None


def _store(state: ApiState) -> Any:
    from boom_flow.filters.store import FilterStore

    return FilterStore(state.db, state.valkey, state.settings.filters.max_match_rate)


def _guard_budget(state: ApiState) -> Any:
    """The activation guard backtests a night: bounded like any query (503 past it)."""
    return archive.time_budget(state.api.max_time_ms_limit, client_side=True)


def _activated(message: str, store: Any) -> str:
    """The message, with the guard's measurement when there was one."""
    measured = store.last_match_rate
    if measured is None:
        return message
    return f"{message}; reference night: {measured.describe()}"


def _shown(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": document["_id"], **document}


def _check_rights(user: User, permissions: Mapping[str, list[int]] | None) -> None:
    """A filter may not ask for ZTF programids its owner may not see."""
    wanted = {int(p) for key, ids in (permissions or {}).items() if key.upper() == "ZTF"
              for p in ids}
    allowed = ZTF_PROGRAMIDS if user.rights.ztf is None else user.rights.ztf
    if not wanted <= allowed:
        raise forbidden(f"permissions.ZTF {sorted(wanted)}: you may only use programids "
                        f"{sorted(allowed)}")


def _invalid(error: Exception) -> ApiError:
    """400 for an invalid pipeline or field (the filters package names the operator
    and its path in the message), or a refused activation (with the measured rate)."""
    from boom_flow.filters.guard import FilterTooBroad

    if isinstance(error, FilterTooBroad):
        return bad_request(str(error))
    return bad_request(f"invalid filter: {error}")


def _owned(state: ApiState, user: User, filter_id: str) -> dict[str, Any]:
    document = _store(state).get(filter_id)
    if document is None or (not user.is_admin and document.get("user_id") != user.id):
        raise not_found(f"filter {filter_id!r} not found")
    return document


@router.post("", summary="Create a filter")
def create_filter(request: Request, body: NewFilter, user: CurrentUser) -> DocumentResponse:
    from boom_flow.filters.mql import PipelineError

    state = api_state(request)
    refuse_forbidden(body.pipeline, "pipeline")
    _check_rights(user, body.permissions)
    if body.watchlist_id:
        owned_watchlist(state, user, body.watchlist_id)
    store = _store(state)
    try:
        with _guard_budget(state):
            document = store.create(
                name=body.name, survey=body.survey, user_id=user.id,
                permissions=body.permissions, pipeline=body.pipeline,
                description=body.description, active=body.active,
                watchlist_id=body.watchlist_id, **body.guard_options(user))
    except (PipelineError, ValueError) as error:
        raise _invalid(error) from None
    return envelope(_activated(f"created filter {body.name}", store), _shown(document))


@router.get("", summary="Your filters (admins: all)")
def list_filters(request: Request, user: CurrentUser, survey: str | None = None,
                 active: bool | None = None) -> DocumentResponse:
    store = _store(api_state(request))
    found = store.list(user_id=None if user.is_admin else user.id, survey=survey, active=active)
    return envelope(f"{len(found)} filters", [_shown(d) for d in found])


@router.get("/{filter_id}", summary="One filter")
def get_filter(request: Request, filter_id: str, user: CurrentUser) -> DocumentResponse:
    document = _owned(api_state(request), user, filter_id)
    return envelope(f"filter {filter_id}", _shown(document))


@router.patch("/{filter_id}", summary="Change a filter (active, active_fid, name, ...)")
def update_filter(request: Request, filter_id: str, body: FilterChanges,
                  user: CurrentUser) -> DocumentResponse:
    from boom_flow.filters.store import FilterNotFound

    state = api_state(request)
    _owned(state, user, filter_id)
    changes = body.model_dump(exclude_none=True, exclude=set(Activation.model_fields))
    if not changes:
        raise bad_request("nothing to change: give active, active_fid, name, description "
                          "or permissions")
    _check_rights(user, changes.get("permissions"))
    if changes.get("watchlist_id"):
        owned_watchlist(state, user, changes["watchlist_id"])
    store = _store(state)
    try:
        with _guard_budget(state):
            document = store.update(filter_id, **body.guard_options(user), **changes)
    except FilterNotFound as error:
        raise not_found(f"not found: {error}") from None
    except ValueError as error:
        raise _invalid(error) from None
    return envelope(_activated(f"updated filter {filter_id}", store), _shown(document))


@router.post("/{filter_id}/versions", summary="A new version of a filter's pipeline")
def add_version(request: Request, filter_id: str, body: NewVersion,
                user: CurrentUser) -> DocumentResponse:
    from boom_flow.filters.mql import PipelineError
    from boom_flow.filters.store import FilterNotFound

    state = api_state(request)
    _owned(state, user, filter_id)
    refuse_forbidden(body.pipeline, "pipeline")
    store = _store(state)
    try:
        with _guard_budget(state):
            version = store.add_version(filter_id, body.pipeline, **body.guard_options(user))
    except FilterNotFound:
        raise not_found(f"filter {filter_id!r} not found") from None
    except (PipelineError, ValueError) as error:
        raise _invalid(error) from None
    return envelope(_activated(f"new version of filter {filter_id}", store), version)


def _backtest(request: Request, body: FilterTest, user: User) -> Any:
    """The passing outputs (or, with ``explain``, the explanation) of the back-test."""
    from boom_flow.filters.backtest import explain_on_archive, test_filter_on_archive
    from boom_flow.filters.mql import PipelineError

    state = api_state(request)
    refuse_forbidden(body.pipeline, "pipeline")
    _check_rights(user, body.permissions)
    if not 0 < body.end_jd - body.start_jd <= MAX_TEST_DAYS:
        raise bad_request(f"end_jd must be after start_jd, at most {MAX_TEST_DAYS:g} days later")
    limit = body.limit or state.api.max_limit
    if limit > state.api.max_limit:
        raise too_large(f"limit {limit} exceeds the maximum of {state.api.max_limit}")
    budget = body.max_time_ms or state.api.default_max_time_ms
    # The back-test reads aux documents itself. The filter's permissions trim ZTF
    # histories there; an LSST object's aliases.ZTF must go through the user's view.
    aux = collection_names(body.survey)["alerts_aux"]
    aux_view = view_stages(aux, user.rights) if aux in ALIAS_HOLDERS else []
    watchlist = None
    if body.watchlist_id:
        from boom_flow.filters.watchlists import Watchlist

        watchlist = Watchlist.of(owned_watchlist(state, user, body.watchlist_id))
    try:
        with archive.time_budget(min(budget, state.api.max_time_ms_limit), client_side=True):
            if body.explain:
                return explain_on_archive(
                    state.db, survey=body.survey, pipeline=body.pipeline,
                    permissions=body.permissions, start_jd=body.start_jd,
                    end_jd=body.end_jd, object_ids=body.object_ids, candids=body.candids,
                    trace=body.trace or body.candids or (), aux_view=aux_view)
            return test_filter_on_archive(
                state.db, survey=body.survey, pipeline=body.pipeline,
                permissions=body.permissions, start_jd=body.start_jd, end_jd=body.end_jd,
                object_ids=body.object_ids, candids=body.candids, limit=limit,
                aux_view=aux_view, watchlist=watchlist)
    except (PipelineError, ValueError) as error:
        raise _invalid(error) from None


@router.post("/test", summary="Run a filter on the archive's alerts of a time window",
             dependencies=[Depends(query_slot)])
def test_filter(request: Request, body: FilterTest, user: CurrentUser) -> DocumentResponse:
    passed = _backtest(request, body, user)
    if body.explain:
        return envelope(f"{passed['passed']} of {passed['alerts']} alerts pass", passed)
    SizeBudget(api_state(request).api.max_response_bytes).encode_all(passed)
    return envelope(f"{len(passed)} alerts pass", passed)


@router.post("/test/count", summary="How many alerts of a time window pass a filter",
             dependencies=[Depends(query_slot)])
def test_filter_count(request: Request, body: FilterTest, user: CurrentUser
                      ) -> DocumentResponse:
    passed = _backtest(request, body.model_copy(update={"explain": False}), user)
    return envelope(f"{len(passed)} alerts pass", len(passed))


@router.get("/{filter_id}/results", summary="What passed a filter recently (from Valkey)")
def results(request: Request, filter_id: str, user: CurrentUser,
            since: Annotated[int, Query(ge=0, description="ms since the Unix epoch")] = 0,
            limit: Annotated[int, Query(ge=1, le=10000)] = 100) -> DocumentResponse:
    state = api_state(request)
    document = _owned(state, user, filter_id)
    # The owner's rights may have shrunk since the filter was made: its results carry
    # what the filter could see, so they are served only within the user's rights now.
    _check_rights(user, document.get("permissions"))
    recent = _recent_results()
    found = recent(state.valkey, filter_id, since, limit)
    return envelope(f"{len(found)} results since {since}", found)


def _recent_results() -> Any:
    try:
        from boom_flow.filters.publish import recent_results
    except ImportError:
        from boom_flow.filters.results import recent_results  # type: ignore[no-redef]
    return recent_results
