"""A filter ready to run: its live version's pipeline compiled, its rights resolved.

Results must be matched back to their alerts, and the only key a pipeline's output
carries for that is ``_id`` (the alert id). Users often drop it (``_id: 0`` in the
final ``$project``), so ``keep_alert_id`` removes such exclusions before compiling
and remembers to hide ``_id`` from the delivered output: same result, always
traceable. A pipeline that *computes* an ``_id`` cannot be traced that way; it is run
one document at a time instead (correct, slower).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from boom_flow.filters.documents import (
    AliasRights,
    Programids,
    alias_rights,
    permitted_programids,
)
from boom_flow.filters.watchlists import Watchlist


@dataclass(frozen=True, eq=False)
class ActiveFilter:
    """One active filter of a survey, as the filter stage runs it."""

    filter_id: str
    name: str
    fid: str
    survey: str
    #: Permitted ZTF programids (None: the survey has no data rights).
    programids: Programids
    pipeline: list[dict[str, Any]]
    #: ``boom_flow.filters.mql.CompiledPipeline`` of the prepared pipeline.
    compiled: Any = field(repr=False)
    #: The user's pipeline removes ``_id``: strip it from the delivered output.
    hides_id: bool = False
    #: ``_id`` in the output is not the alert id: evaluate one document at a time.
    per_document: bool = False
    #: Equal for filters that compute the same thing (same prepared pipeline): the
    #: stage evaluates such copies once per permission set.
    signature: str = ""
    #: Whose ZTF objects ``aliases.ZTF`` may name (``documents.alias_rights``).
    alias_rights: AliasRights = None
    #: Runs only on the alerts within one of its targets (``filters.watchlists``).
    watchlist: Watchlist | None = None


def keep_alert_id(pipeline: Sequence[Mapping[str, Any]]
                  ) -> tuple[list[dict[str, Any]], bool, bool]:
    """(pipeline that keeps ``_id``, whether the user's hides it, whether it computes one).

    >>> keep_alert_id([{"$match": {"a": 1}}, {"$project": {"_id": 0, "objectId": 1}}])
    ([{'$match': {'a': 1}}, {'$project': {'objectId': 1}}], True, False)
    """
    prepared: list[dict[str, Any]] = []
    hides = computes = False
    for stage in pipeline:
        (name, spec), = stage.items()
        if name == "$project" and isinstance(spec, Mapping) and "_id" in spec:
            value = spec["_id"]
            if value in (0, False) and not isinstance(value, str):
                hides = True
                spec = {k: v for k, v in spec.items() if k != "_id"}
                if not spec:
                    continue  # {_id: 0} alone: nothing else to do
            elif value not in (1, True):
                computes = True
        elif name == "$unset":
            names = [spec] if isinstance(spec, str) else list(spec)
            if "_id" in names:
                hides = True
                names = [n for n in names if n != "_id"]
                if not names:
                    continue
                spec = names
        elif name in ("$addFields", "$set") and isinstance(spec, Mapping) and "_id" in spec:
            computes = True
        prepared.append({name: spec})
    return prepared, hides, computes


def build_active_filter(document: Mapping[str, Any], compile_pipeline: Any = None,
                        owner: Mapping[str, Any] | None = None,
                        watchlist: Watchlist | None = None) -> ActiveFilter:
    """An ``ActiveFilter`` from a ``filters`` document (its ``active_fid`` version);
    ``owner``: its user's document, whose rights decide the aliases it sees;
    ``watchlist``: the loaded watchlist its ``watchlist_id`` names."""
    if document.get("watchlist_id") and (
            watchlist is None or watchlist.watchlist_id != str(document["watchlist_id"])):
        raise KeyError(f"filter {document.get('_id')}: watchlist {document['watchlist_id']} "
                       "not found")
    from boom_flow.filters.mql import validate_filter_pipeline

    if compile_pipeline is None:
        # The user's pipeline is checked against the filter rules; the prepared one
        # (which may no longer end in the user's $project) is only compiled.
        from boom_flow.filters.mql import compile_stages as compile_pipeline
    version = active_version(document)
    validate_filter_pipeline(version["pipeline"])
    prepared, hides, computes = keep_alert_id(version["pipeline"])
    return ActiveFilter(
        filter_id=str(document["_id"]), name=str(document.get("name", "")),
        fid=str(version["fid"]), survey=str(document["survey"]).upper(),
        programids=permitted_programids(document["survey"], document.get("permissions")),
        pipeline=list(version["pipeline"]), compiled=compile_pipeline(prepared),
        hides_id=hides, per_document=computes,
        signature=json.dumps([prepared, hides, computes], sort_keys=True, default=repr),
        alias_rights=alias_rights(document["survey"], document.get("permissions"), owner),
        watchlist=watchlist,
    )


def active_version(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The version ``active_fid`` names (KeyError when it names none)."""
    wanted = document.get("active_fid")
    for version in document.get("fv") or ():
        if version.get("fid") == wanted:
            return version
    raise KeyError(f"filter {document.get('_id')}: no version {wanted!r}")
