"""``/catalogs``: what a user may query, its indexes, a random sample."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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


#: Seconds a collection's size (``collStats``) is reused for ``get_details``.
SIZE_TTL_S = 300.0


class SizeCache:
    """Collection sizes, kept ``SIZE_TTL_S``: ``collStats`` reads every document on some
    servers (SecantusDB: 3 s for 3,000 alerts), and a size minutes old is as useful."""

    def __init__(self, ttl_s: float = SIZE_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._sizes: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def size(self, db: Any, name: str) -> Any:
        now = self._clock()
        with self._lock:
            found = self._sizes.get(f"{db.name}.{name}")
        if found is not None and now - found[0] < self.ttl_s:
            return found[1]
        size = db.command("collStats", name).get("size")
        with self._lock:
            self._sizes[f"{db.name}.{name}"] = (now, size)
        return size


_SIZES = SizeCache()


def _details(db: Any, name: str, rights: Rights) -> dict[str, Any]:
    # A restricted user is not shown the size of a view (it would count hidden
    # documents): no collStats is needed for it.
    shown = not rights.restricts(name) or keeps_documents(name)
    return {"count": archive.estimated_count(db, name, rights),
            "size": _SIZES.size(db, name) if shown else None,
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
