"""The archive as one user may see it: find, count, aggregate through their views.

Every route that reads a catalog goes through these functions, so data rights
(``rights.py``) and the time budget apply to all of them the same way.

The time budget is enforced by the database: each command carries ``maxTimeMS`` =
what is left of the request's budget (``time_budget`` keeps the deadline), so the
server stops a runaway query itself and answers ``MaxTimeMSExpired``, which becomes
a 503 with the reason. (pymongo's client-side ``pymongo.timeout`` is not used for
this: it gives the socket exactly the same deadline as ``maxTimeMS``, so the client
gives up a hair before the server's answer arrives and the server is left running
the query on a closed connection.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import pymongo
from pymongo.database import Database
from pymongo.errors import ExecutionTimeout, PyMongoError

from boom_flow.api.errors import bad_request, database_error
from boom_flow.api.guards import is_protected, unknown_catalog
from boom_flow.api.rights import (
    Rights,
    alert_condition,
    estimate_source,
    filter_first_is_safe,
    keeps_documents,
    readable,
    restrict_filter,
    view_stages,
    ztf_kind,
)

Sort = list[tuple[str, Any]]
#: Monotonic deadline of the current request's queries (per thread / task).
_deadline: ContextVar[float | None] = ContextVar("boom_flow_api_deadline", default=None)
#: Extra time given to the client side when it must bound code that sets no maxTimeMS.
CLIENT_GRACE_S = 2.0


@contextmanager
def time_budget(budget_ms: int, *, client_side: bool = False) -> Iterator[None]:
    """Run the enclosed queries within ``budget_ms`` in all; a timeout becomes 503.

    ``client_side``: also bound the enclosed pymongo calls on the client (for code
    that passes no ``maxTimeMS`` of its own, such as the filter back-test).
    """
    token = _deadline.set(time.monotonic() + budget_ms / 1000)
    try:
        if client_side:
            with pymongo.timeout(budget_ms / 1000 + CLIENT_GRACE_S):
                yield
        else:
            yield
    except PyMongoError as error:
        raise database_error(error, budget_ms) from None
    finally:
        _deadline.reset(token)


def remaining_ms() -> int | None:
    """``maxTimeMS`` for the next command: what is left of the budget (None: no budget)."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    left = int((deadline - time.monotonic()) * 1000)
    if left <= 0:
        raise ExecutionTimeout("the time budget is spent", 50)
    return left


def _max_time() -> dict[str, int]:
    left = remaining_ms()
    return {} if left is None else {"maxTimeMS": left}


def readable_catalog(db: Database, name: str, rights: Rights) -> str:
    """``name`` when it is a collection this user may query; 404 otherwise (the same
    answer whether it does not exist or may not be read)."""
    if is_protected(name) or not readable(name, rights):
        raise unknown_catalog(name)
    if name not in set(db.list_collection_names()):
        raise unknown_catalog(name)
    return name


def normalise_sort(sort: Any) -> Sort | None:
    """``{"field": 1}`` or ``[["field", -1], ...]`` -> pymongo's list of pairs."""
    if not sort:
        return None
    pairs = list(sort.items()) if isinstance(sort, Mapping) else sort
    result = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str):
            raise bad_request("sort: expected {field: 1|-1} or [[field, 1|-1], ...]")
        if pair[1] not in (1, -1) and not isinstance(pair[1], Mapping):
            raise bad_request(f"sort: direction of {pair[0]!r} must be 1 or -1")
        result.append((pair[0], pair[1]))
    return result


def uses_view(collection: str, rights: Rights) -> bool:
    """True when queries must run as a pipeline over the user's view (alerts are
    restricted by merging the programid condition into the filter instead)."""
    return rights.restricts(collection) and ztf_kind(collection) != "alerts"


def user_filter(collection: str, rights: Rights, query: Mapping[str, Any]) -> dict[str, Any]:
    """The filter of a plain ``find``/``count`` (for collections without a view, or
    whose view keeps every document and runs after this filter)."""
    if rights.restricts(collection) and ztf_kind(collection) == "alerts":
        return restrict_filter(query, alert_condition(rights))
    return dict(query)


def viewed(collection: str, rights: Rights, query: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The view's stages and the user's ``$match``: the match first when that gives the
    same answer (``rights.filter_first_is_safe``), so the stored documents' indexes serve
    it (SecantusDB does not move a ``$match`` ahead of a ``$set`` as MongoDB does)."""
    match = {"$match": dict(query)}
    view = view_stages(collection, rights)
    return [match, *view] if filter_first_is_safe(collection, query) else [*view, match]


def find(db: Database, collection: str, rights: Rights, query: Mapping[str, Any], *,
         projection: Mapping[str, Any] | None = None, sort: Sort | None = None,
         skip: int = 0, limit: int = 0) -> Iterator[dict[str, Any]]:
    """The documents of the user's view of ``collection`` matching ``query``."""
    if uses_view(collection, rights):
        stages = viewed(collection, rights, query)
        if sort:
            stages.append({"$sort": dict(sort)})
        if skip:
            stages.append({"$skip": skip})
        if limit:
            stages.append({"$limit": limit})
        if projection:
            stages.append({"$project": dict(projection)})
        return db[collection].aggregate(stages, **_max_time())
    return db[collection].find(user_filter(collection, rights, query), projection or None,
                               skip=skip, limit=limit, sort=sort, max_time_ms=remaining_ms())


def count(db: Database, collection: str, rights: Rights, query: Mapping[str, Any]) -> int:
    if uses_view(collection, rights) and not (keeps_documents(collection)
                                              and filter_first_is_safe(collection, query)):
        stages = [*viewed(collection, rights, query), {"$count": "n"}]
        found = list(db[collection].aggregate(stages, **_max_time()))
        return int(found[0]["n"]) if found else 0
    return db[collection].count_documents(user_filter(collection, rights, query), **_max_time())


def estimated_count(db: Database, collection: str, rights: Rights) -> int:
    """The collection's size from metadata; for a restricted user, the size of their
    view counted from its condition (the total would count documents they may not see;
    ``rights.estimate_source`` says how each view is counted)."""
    if rights.restricts(collection) and not keeps_documents(collection):
        source, condition = estimate_source(collection, rights)
        return db[source].count_documents(condition, **_max_time())
    return db[collection].estimated_document_count(**_max_time())


def aggregate(db: Database, collection: str, stages: list[dict[str, Any]]
              ) -> Iterator[dict[str, Any]]:
    """Run stages already scoped by ``rights.scope_pipeline``."""
    return db[collection].aggregate(stages, **_max_time())


def sample(db: Database, collection: str, rights: Rights, size: int) -> list[dict[str, Any]]:
    stages = [*view_stages(collection, rights), {"$sample": {"size": size}}]
    return list(db[collection].aggregate(stages, **_max_time()))
