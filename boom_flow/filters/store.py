"""The ``filters`` collection: users' filters, their versions and which one is live.

A document (``filters.md``)::

    {_id (uuid str), name, description, survey, user_id, permissions: {"ZTF": [1, 2]},
     active, active_fid, fv: [{fid, pipeline, created_at}], created_at, updated_at}

Every pipeline is validated when it is stored (creation, new version), never at run
time: nothing invalid is ever stored, so nothing invalid reaches the live stage. Making a
version live (creating an active filter, a new version of an active one, activating) is
refused when it passes more than ``max_match_rate`` of a reference night
(``guard.FilterTooBroad``), unless ``force`` (an admin's override). Every
change increments the survey's generation key in Valkey
(``boom_flow:filters:{SURVEY}:generation``); running pipelines compare it once per batch
and reload within a batch, without a restart.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import redis
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database

from boom_flow.filters.active import ActiveFilter, build_active_filter
from boom_flow.filters.mql import (
    PipelineError,
    compile_pipeline,
    parse_pipeline,
    validate_filter_pipeline,
)

log = logging.getLogger("boom_flow.filters.store")

COLLECTION = "filters"
SURVEYS = ("ZTF", "LSST")
ZTF_PROGRAMIDS = frozenset({1, 2, 3})
#: Fields ``update`` may change (a pipeline changes through ``add_version``).
UPDATABLE = frozenset({"active", "active_fid", "name", "description", "permissions",
                       "watchlist_id"})

__all__ = ["FilterNotFound", "FilterStore", "PipelineError", "generation_key"]
#: A reference JD range for the activation guard: (start_jd, end_jd).
Window = tuple[float, float]


class FilterNotFound(LookupError):
    """No filter (or no version) with that id."""


def generation_key(survey: str) -> str:
    """The Valkey key whose value changes whenever a filter of ``survey`` changes."""
    return f"boom_flow:filters:{survey.upper()}:generation"


def _now() -> dt.datetime:
    """UTC now as BSON keeps it (naive, milliseconds), so that what ``create`` returns
    equals what ``get`` reads back."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def check_permissions(survey: str, permissions: Mapping[str, Iterable[int]] | None
                      ) -> dict[str, list[int]]:
    """``{"ZTF": [1, 2]}`` checked and normalised; ZTF filters need at least one programid."""
    if permissions is None:
        permissions = {}
    if not isinstance(permissions, Mapping):
        raise ValueError("permissions must be a mapping such as {'ZTF': [1, 2]}")
    normal: dict[str, list[int]] = {}
    for name, values in permissions.items():
        key = str(name).upper()
        if key not in SURVEYS:
            raise ValueError(f"permissions: unknown survey {name!r}")
        try:
            ids = sorted({int(v) for v in values})
        except (TypeError, ValueError):
            raise ValueError(f"permissions.{key} must be a list of integers") from None
        if key == "ZTF" and not set(ids) <= ZTF_PROGRAMIDS:
            raise ValueError(f"permissions.ZTF: programids are 1, 2 or 3, not {ids}")
        normal[key] = ids
    if survey == "ZTF" and not normal.get("ZTF"):
        raise ValueError("a ZTF filter needs permissions such as {'ZTF': [1]}")
    return normal


def checked_pipeline(pipeline: str | bytes | list[Any]) -> list[dict[str, Any]]:
    """The pipeline parsed, validated and compiled once (an operator the evaluator does
    not implement is refused here): ``PipelineError`` with a precise message."""
    stages = parse_pipeline(pipeline)
    validate_filter_pipeline(stages)
    compile_pipeline(stages)
    return stages


class FilterStore:
    """Create, version, activate and read filters; notify running pipelines.

    ``max_match_rate``: the activation guard's limit (None: no guard). ``last_match_rate``
    holds the guard's latest measurement (``guard.MatchRate``), for the caller to show."""

    def __init__(self, db: Database, notifier: redis.Redis | None = None,
                 max_match_rate: float | None = 0.05) -> None:
        self.collection = db[COLLECTION]
        self.notifier = notifier
        self.max_match_rate = max_match_rate
        self.last_match_rate: Any = None

    def ensure_indexes(self) -> None:
        """``{active: 1, survey: 1}`` (``_id`` is always indexed)."""
        wanted = (("active", ASCENDING), ("survey", ASCENDING))
        existing = {tuple(i["key"].items()) for i in self.collection.list_indexes()}
        if wanted not in existing:
            self.collection.create_index(list(wanted))

    # -- changes ------------------------------------------------------------------------
    def create(self, *, name: str, survey: str, user_id: str,
               permissions: Mapping[str, Iterable[int]] | None,
               pipeline: str | bytes | list[Any], description: str = "",
               active: bool = True, force: bool = False,
               reference: Window | None = None,
               watchlist_id: str | None = None) -> dict[str, Any]:
        survey = self._survey(survey)
        self._check_watchlist(watchlist_id)
        if not str(name).strip():
            raise ValueError("a filter needs a name")
        stages = checked_pipeline(pipeline)
        rights = check_permissions(survey, permissions)
        if active:
            self._guard(survey, stages, rights, force, reference)
        now = _now()
        fid = str(uuid.uuid4())
        document = {
            "_id": str(uuid.uuid4()), "name": str(name), "description": str(description),
            "survey": survey, "user_id": str(user_id),
            "permissions": rights,
            "active": bool(active), "active_fid": fid,
            "fv": [{"fid": fid, "pipeline": stages, "created_at": now}],
            "created_at": now, "updated_at": now,
        }
        if watchlist_id:
            document["watchlist_id"] = str(watchlist_id)
        self.ensure_indexes()
        self.collection.insert_one(document)
        self._notify(survey)
        return document

    def add_version(self, filter_id: str, pipeline: str | bytes | list[Any],
                    activate: bool = True, force: bool = False,
                    reference: Window | None = None) -> dict[str, Any]:
        """A new version of the pipeline; it becomes the live one unless ``activate`` is
        false. Returns the version ``{fid, pipeline, created_at}``."""
        stages = checked_pipeline(pipeline)
        if activate:
            current = self.get(filter_id)
            if current is None:
                raise FilterNotFound(filter_id)
            if current.get("active"):
                self._guard(current["survey"], stages, current.get("permissions"), force,
                            reference)
        now = _now()
        version = {"fid": str(uuid.uuid4()), "pipeline": stages, "created_at": now}
        changes: dict[str, Any] = {"updated_at": now}
        if activate:
            changes["active_fid"] = version["fid"]
        self._change(filter_id, {"$push": {"fv": version}, "$set": changes})
        return version

    def update(self, filter_id: str, *, force: bool = False, reference: Window | None = None,
               **fields: Any) -> dict[str, Any]:
        """Change ``active``, ``active_fid``, ``name``, ``description`` or ``permissions``
        (a change that makes a pipeline live, or widens a live one's rights, passes the
        activation guard unless ``force``)."""
        unknown = sorted(set(fields) - UPDATABLE)
        if unknown:
            raise ValueError(f"cannot update {', '.join(unknown)} (allowed: "
                             f"{', '.join(sorted(UPDATABLE))}; pipelines: add_version)")
        current = self.get(filter_id)
        if current is None:
            raise FilterNotFound(filter_id)
        changes = dict(fields)
        if "permissions" in changes:
            changes["permissions"] = check_permissions(current["survey"], changes["permissions"])
        if "active_fid" in changes and changes["active_fid"] not in {
                v["fid"] for v in current.get("fv", ())}:
            raise FilterNotFound(f"filter {filter_id} has no version {changes['active_fid']}")
        if "active" in changes:
            changes["active"] = bool(changes["active"])
        if "watchlist_id" in changes:
            self._check_watchlist(changes["watchlist_id"])
        if "name" in changes and not str(changes["name"]).strip():
            raise ValueError("a filter needs a name")
        self._guard_change(current, changes, force, reference)
        changes["updated_at"] = _now()
        return self._change(filter_id, {"$set": changes})

    def activate(self, filter_id: str, fid: str | None = None, force: bool = False,
                 reference: Window | None = None) -> dict[str, Any]:
        """Make the filter live (with version ``fid`` when given)."""
        return self.update(filter_id, active=True, force=force, reference=reference,
                           **({"active_fid": fid} if fid else {}))

    def deactivate(self, filter_id: str) -> dict[str, Any]:
        return self.update(filter_id, active=False)

    def _check_watchlist(self, watchlist_id: str | None) -> None:
        """A filter may only name a watchlist that exists (``filters.watchlists``)."""
        from boom_flow.filters.watchlists import COLLECTION as WATCHLISTS

        if watchlist_id and self.collection.database[WATCHLISTS].count_documents(
                {"_id": str(watchlist_id)}, limit=1) == 0:
            raise ValueError(f"watchlist {watchlist_id!r} not found")

    # -- reads --------------------------------------------------------------------------
    def get(self, filter_id: str) -> dict[str, Any] | None:
        return self.collection.find_one({"_id": filter_id})

    def list(self, *, user_id: str | None = None, survey: str | None = None,
             active: bool | None = None) -> builtins.list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if user_id is not None:
            query["user_id"] = user_id
        if survey is not None:
            query["survey"] = survey.upper()
        if active is not None:
            query["active"] = active
        return builtins.list(self.collection.find(query).sort("created_at", ASCENDING))

    def active_documents(self, survey: str) -> builtins.list[dict[str, Any]]:
        return builtins.list(self.collection.find({"active": True, "survey": survey.upper()}))

    def active_filters(self, survey: str) -> builtins.list[ActiveFilter]:
        """The survey's active filters, compiled (a stored filter that no longer compiles,
        e.g. after an evaluator change, is logged and left out, never run)."""
        filters = []
        for document in self.active_documents(survey):
            try:
                filters.append(build_active_filter(document))
            except (PipelineError, KeyError) as error:
                log.error("filter %s cannot run: %s", document.get("_id"), error)
        return filters

    # -- internals ----------------------------------------------------------------------
    def _guard(self, survey: str, pipeline: list[dict[str, Any]],
               permissions: Mapping[str, Iterable[int]] | None, force: bool,
               reference: Window | None) -> None:
        """Measure the pass rate on the reference night; refuse over the limit."""
        if self.max_match_rate is None or force:
            return
        from boom_flow.filters.guard import ActivationGuard  # it runs backtests

        self.last_match_rate = ActivationGuard(self.max_match_rate).check(
            self.collection.database, survey=survey, pipeline=pipeline,
            permissions=permissions, window=reference)

    def _guard_change(self, current: Mapping[str, Any], changes: Mapping[str, Any],
                      force: bool, reference: Window | None) -> None:
        active = changes.get("active", current.get("active"))
        live_changes = ("active" in changes and not current.get("active")) or (
            changes.get("active_fid", current.get("active_fid")) != current.get("active_fid")
        ) or ("permissions" in changes and changes["permissions"] != current.get("permissions"))
        if not active or not live_changes:
            return
        fid = changes.get("active_fid", current.get("active_fid"))
        (version,) = [v for v in current.get("fv", ()) if v["fid"] == fid]
        self._guard(current["survey"], version["pipeline"],
                    changes.get("permissions", current.get("permissions")), force, reference)

    def _survey(self, survey: str) -> str:
        name = str(survey).upper()
        if name not in SURVEYS:
            raise ValueError(f"unknown survey {survey!r}; one of {', '.join(SURVEYS)}")
        return name

    def _change(self, filter_id: str, update: dict[str, Any]) -> dict[str, Any]:
        document = self.collection.find_one_and_update(
            {"_id": filter_id}, update, return_document=ReturnDocument.AFTER)
        if document is None:
            raise FilterNotFound(filter_id)
        self._notify(document["survey"])
        return document

    def _notify(self, survey: str) -> None:
        """Tell running pipelines (best effort: they also reload periodically)."""
        if self.notifier is None:
            return
        try:
            self.notifier.incr(generation_key(survey))
        except redis.RedisError as error:
            log.warning("could not notify running pipelines of a %s filter change: %s",
                        survey, error)
