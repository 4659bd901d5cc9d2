"""The live provider of active filters on a worker, and the filter stage's wiring.

Per batch the stage asks ``LiveFilters`` for the survey's active filters. It answers
from memory unless the survey's generation key in Valkey changed (one ``GET`` per batch;
``FilterStore`` increments it on every change) or ``reload_s`` passed since the last
read (a change made without a notice is still picked up). A reload reads the active
filter documents (one ``find``) and compiles only the versions it has not compiled yet
(cache keyed by ``(filter_id, fid)``). If Valkey or MongoDB cannot be reached, the
filters already loaded keep running and the failure is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pymongo
import redis

from boom_flow.filters.active import ActiveFilter, active_version, build_active_filter
from boom_flow.filters.documents import (
    PROGRAMID_SURVEYS,
    alias_rights,
    permitted_programids,
)
from boom_flow.filters.store import COLLECTION, generation_key
from boom_flow.filters.watchlists import WatchlistStore

log = logging.getLogger("boom_flow.filters.live")

#: The collection of users, whose rights decide which ZTF aliases a filter sees.
USERS = "users"
#: Reload at least this often even without a notice (seconds).
DEFAULT_RELOAD_S = 60.0


class LiveFilters:
    """The current active filters of one survey, reloaded when they change."""

    def __init__(self, collection: Any, valkey: redis.Redis | None, survey: str,
                 reload_s: float = DEFAULT_RELOAD_S,
                 compile_filter: Callable[..., ActiveFilter] = build_active_filter,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.collection = collection
        self.valkey = valkey
        self.survey = survey.upper()
        self.reload_s = reload_s
        self._compile = compile_filter
        self._clock = clock
        self._compiled: dict[tuple[str, ...], ActiveFilter] = {}
        self._current: list[ActiveFilter] = []
        self._generation: bytes | None = None
        self._loaded_at: float | None = None
        #: How many times the filters were read from MongoDB (for tests and metrics).
        self.reloads = 0

    def __call__(self) -> list[ActiveFilter]:
        generation = self._read_generation()
        stale = (self._loaded_at is None or generation != self._generation
                 or self._clock() - self._loaded_at >= self.reload_s)
        if stale:
            try:
                self._reload()
                self._generation = generation
            except pymongo.errors.PyMongoError as error:
                log.error("cannot reload the %s filters (keeping %d): %s", self.survey,
                          len(self._current), error)
        return self._current

    def _read_generation(self) -> bytes | None:
        if self.valkey is None:
            return None
        try:
            return self.valkey.get(generation_key(self.survey))
        except redis.RedisError as error:
            log.warning("cannot read the %s filter generation: %s", self.survey, error)
            return self._generation

    def _owners(self, documents: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        """The owners' rights (one ``find``): they decide which ZTF aliases a filter of
        another survey sees, as the API's view does for its user."""
        if self.survey in PROGRAMID_SURVEYS:
            return {}
        ids = list({d.get("user_id") for d in documents if d.get("user_id") is not None})
        users = self.collection.database[USERS]
        return {u["_id"]: u for u in users.find({"_id": {"$in": ids}},
                                                {"permissions": 1, "is_admin": 1})}

    def _reload(self) -> None:
        documents = list(self.collection.find({"active": True, "survey": self.survey}))
        owners = self._owners(documents)
        watchlists = WatchlistStore(self.collection.database).loaded(
            [str(d["watchlist_id"]) for d in documents if d.get("watchlist_id")])
        current: list[ActiveFilter] = []
        compiled: dict[tuple[str, ...], ActiveFilter] = {}
        for document in documents:
            owner = owners.get(document.get("user_id"))
            try:
                # Name and rights may change without a new version: they are in the key.
                key = (str(document["_id"]), str(active_version(document)["fid"]),
                       str(document.get("name", "")),
                       repr(permitted_programids(document["survey"],
                                                 document.get("permissions"))),
                       repr(_sorted_rights(alias_rights(
                           document["survey"], document.get("permissions"), owner))),
                       str(document.get("watchlist_id") or ""))
                active = self._compiled.get(key) or self._compile(
                    document, owner=owner,
                    watchlist=watchlists.get(str(document.get("watchlist_id") or "")))
            except Exception as error:  # one bad filter never stops the rest
                log.error("filter %s cannot run: %s", document.get("_id"), error)
                continue
            compiled[key] = active
            current.append(active)
        self._compiled = compiled
        self._current = current
        self._loaded_at = self._clock()
        self.reloads += 1


def _sorted_rights(rights: frozenset[int] | None) -> list[int] | None:
    return None if rights is None else sorted(rights)


def live_filters(database: Any, valkey: redis.Redis | None, survey: str,
                 reload_s: float | None = None) -> LiveFilters:
    """The filter stage's provider on a worker, on the worker's own clients."""
    return LiveFilters(database[COLLECTION], valkey, survey,
                       DEFAULT_RELOAD_S if reload_s is None else reload_s)
