"""``/catalogs``: what a user may query, its indexes, a random sample."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from boom_flow.api import archive
from boom_flow.api.auth import CurrentUser
from boom_flow.api.encoding import DocumentResponse, envelope
from boom_flow.api.guards import SizeBudget, is_protected
from boom_flow.api.rights import Rights, keeps_documents, readable
from boom_flow.api.state import api_state, query_slot

router = APIRouter(prefix="/catalogs", tags=["catalogs"], dependencies=[Depends(query_slot)])


def visible_catalogs(names: list[str], rights: Rights) -> list[str]:
    return sorted(name for name in names if not is_protected(name) and readable(name, rights))


def _details(db: Any, name: str, rights: Rights) -> dict[str, Any]:
    stats = db.command("collStats", name)
    return {"count": archive.estimated_count(db, name, rights),
            "size": (stats.get("size") if not rights.restricts(name) or keeps_documents(name)
                     else None),
            "indexes": [index["name"] for index in db[name].list_indexes()]}


@router.get("", summary="The catalogs the user may query")
def list_catalogs(request: Request, user: CurrentUser,
                  get_details: bool = False) -> DocumentResponse:
    state = api_state(request)
    with archive.time_budget(state.api.default_max_time_ms):
        names = visible_catalogs(state.db.list_collection_names(), user.rights)
        data = [{"name": name, **({"details": _details(state.db, name, user.rights)}
                                  if get_details else {})} for name in names]
    return envelope(f"{len(data)} catalogs", data)


@router.get("/{name}/indexes", summary="The indexes of a catalog")
def indexes(request: Request, name: str, user: CurrentUser) -> DocumentResponse:
    state = api_state(request)
    with archive.time_budget(state.api.default_max_time_ms):
        name = archive.readable_catalog(state.db, name, user.rights)
        found = [dict(index) for index in state.db[name].list_indexes()]
    return envelope(f"{len(found)} indexes on {name}", found)


@router.get("/{name}/sample", summary="Random documents of a catalog")
def sample(request: Request, name: str, user: CurrentUser,
           size: Annotated[int, Query(ge=1, le=1000)] = 1) -> DocumentResponse:
    state = api_state(request)
    with archive.time_budget(state.api.default_max_time_ms):
        name = archive.readable_catalog(state.db, name, user.rights)
        found = archive.sample(state.db, name, user.rights, size)
    SizeBudget(state.api.max_response_bytes).encode_all(found)
    return envelope(f"{len(found)} documents sampled from {name}", found)
