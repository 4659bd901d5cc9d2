"""``/watchlists``: a user's lists of named positions with radii (CSV or JSON), which
their filters can refer to (``watchlist_id``); see ``filters.watchlists``.

A user sees and deletes only their own watchlists (admins: all). A watchlist a filter
still refers to is not deleted: the filter would stop running.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from boom_flow.api.auth import CurrentUser, User
from boom_flow.api.encoding import DocumentResponse, envelope
from boom_flow.api.errors import bad_request, not_found
from boom_flow.api.state import ApiState, api_state

router = APIRouter(prefix="/watchlists", tags=["watchlists"])


class NewWatchlist(BaseModel):
    name: Annotated[str, Field(min_length=1)]
    #: The targets as JSON objects ``{name, ra, dec, radius}`` (radius in arcsec) ...
    targets: list[dict[str, Any]] | None = None
    #: ... or the text of an uploaded file (CSV with a header, or JSON).
    data: str | None = None
    format: Literal["csv", "json"] | None = None


def _store(state: ApiState) -> Any:
    from boom_flow.filters.watchlists import WatchlistStore

    return WatchlistStore(state.db)


def _shown(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": document["_id"], **document}


def owned_watchlist(state: ApiState, user: User, watchlist_id: str) -> dict[str, Any]:
    """The user's watchlist (admins: anyone's); 404 otherwise, revealing nothing."""
    document = _store(state).get(watchlist_id)
    if document is None or (not user.is_admin and document.get("user_id") != user.id):
        raise not_found(f"watchlist {watchlist_id!r} not found")
    return document


@router.post("", summary="Upload a watchlist (targets, or CSV / JSON text)")
def create_watchlist(request: Request, body: NewWatchlist, user: CurrentUser
                     ) -> DocumentResponse:
    from boom_flow.filters.watchlists import WatchlistError, parse_targets

    if (body.targets is None) == (body.data is None):
        raise bad_request("give either targets (a list of {name, ra, dec, radius}) or data "
                          "(the text of a CSV or JSON file)")
    try:
        targets = body.targets if body.targets is not None else parse_targets(
            body.data or "", body.format)
        document = _store(api_state(request)).create(name=body.name, user_id=user.id,
                                                     targets=targets)
    except WatchlistError as error:
        raise bad_request(f"invalid watchlist: {error}") from None
    return envelope(f"created watchlist {body.name} with {len(document['targets'])} targets",
                    _shown(document))


@router.get("", summary="Your watchlists (admins: all), without their targets")
def list_watchlists(request: Request, user: CurrentUser) -> DocumentResponse:
    found = _store(api_state(request)).list(None if user.is_admin else user.id)
    return envelope(f"{len(found)} watchlists", [_shown(d) for d in found])


@router.get("/{watchlist_id}", summary="One watchlist with its targets")
def get_watchlist(request: Request, watchlist_id: str, user: CurrentUser) -> DocumentResponse:
    document = owned_watchlist(api_state(request), user, watchlist_id)
    return envelope(f"watchlist {watchlist_id}", _shown(document))


@router.delete("/{watchlist_id}", summary="Delete a watchlist no filter refers to")
def delete_watchlist(request: Request, watchlist_id: str, user: CurrentUser
                     ) -> DocumentResponse:
    state = api_state(request)
    owned_watchlist(state, user, watchlist_id)
    users = [f["_id"] for f in state.db.filters.find({"watchlist_id": watchlist_id}, {"_id": 1})]
    if users:
        raise bad_request(f"watchlist {watchlist_id} is used by filters {', '.join(users)}: "
                          "change them first (PATCH /filters/{id} with another watchlist_id)")
    _store(state).delete(watchlist_id)
    return envelope(f"deleted watchlist {watchlist_id}", None)
