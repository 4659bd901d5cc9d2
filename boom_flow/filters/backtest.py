"""Run a filter over the past: the stored archive for a jd window, or a night of files.

Both give the answer the live stream gave (or would have given): the documents are
built by ``FilterDocuments`` with the history as it stood at each alert (no point later
than the alert is visible), trimmed to the filter's rights, and evaluated by the same
code as the live stage. What they return is what the pipeline yields for each passing
alert (its projected output), in the order of the alerts' ``jd``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from boom_flow.core import AlertBatch
from boom_flow.filters.active import ActiveFilter, build_active_filter
from boom_flow.filters.aliases import ztf_alias_programids
from boom_flow.filters.documents import ALERT_FIELDS, OBJECT_FIELDS, FilterDocuments
from boom_flow.filters.evaluate import evaluate
from boom_flow.filters.mql.explain import Explainer
from boom_flow.filters.store import check_permissions, checked_pipeline
from boom_flow.filters.watchlists import Watchlist
from boom_flow.storage.archive import collection_names
from boom_flow.surveys import build_survey

#: Alerts read and evaluated together from the archive.
CHUNK = 500
_AUX_PROJECTION = {name: 1 for name in ("prv_candidates", "prv_nondetections", "fp_hists",
                                        *OBJECT_FIELDS)}


def backtest_filter(survey: str, pipeline: str | bytes | list[Any],
                    permissions: Mapping[str, Iterable[int]] | None) -> ActiveFilter:
    """A filter that is not stored: validated exactly as at creation."""
    survey = survey.upper()
    return build_active_filter({
        "_id": "backtest", "name": "backtest", "survey": survey,
        "permissions": check_permissions(survey, permissions), "active_fid": "backtest",
        "fv": [{"fid": "backtest", "pipeline": checked_pipeline(pipeline)}],
    })


def test_filter_on_archive(db: Database, *, survey: str, pipeline: str | bytes | list[Any],
                           permissions: Mapping[str, Iterable[int]] | None,
                           start_jd: float, end_jd: float,
                           object_ids: Sequence[Any] | None = None,
                           candids: Sequence[int] | None = None,
                           limit: int | None = None,
                           aux_view: Sequence[Mapping[str, Any]] | None = None,
                           watchlist: Watchlist | None = None) -> list[dict[str, Any]]:
    """The outputs of ``pipeline`` for the stored alerts with ``start_jd <= jd <= end_jd``
    (optionally only these objects or alert ids), at most ``limit``.

    ``aux_view``: aggregation stages the objects' aux documents go through first: the
    API's data-rights view for its user (``[]`` for a user who may see everything). The
    filter's permissions trim the histories here, the view what ``aliases`` says of
    another survey. Without a view, ``aliases.ZTF`` is trimmed to what the filter's
    permissions may see, by the live stage's rule (``filters.aliases``). ``watchlist``:
    run on the alerts near its targets only, as a filter referring to it does live."""
    active = replace(backtest_filter(survey, pipeline, permissions), watchlist=watchlist)
    if aux_view is not None:
        active = replace(active, alias_rights=None)
    query = alert_query(active, start_jd, end_jd, object_ids, candids)
    outputs: list[dict[str, Any]] = []
    for documents in _archive_documents(db, survey, query, aux_view, active):
        outputs += _passing(documents, active)
        if limit is not None and len(outputs) >= limit:
            return outputs[:limit]
    return outputs


def explain_on_archive(db: Database, *, survey: str, pipeline: str | bytes | list[Any],
                       permissions: Mapping[str, Iterable[int]] | None,
                       start_jd: float, end_jd: float,
                       object_ids: Sequence[Any] | None = None,
                       candids: Sequence[int] | None = None,
                       trace: Iterable[int] = (),
                       aux_view: Sequence[Mapping[str, Any]] | None = None
                       ) -> dict[str, Any]:
    """How many of the alerts ``test_filter_on_archive`` evaluates enter and leave each
    stage, and for each alert id in ``trace`` the stage and condition that dropped it
    (``mql.explain``), with the values of the document the filter saw (its rights)."""
    active = backtest_filter(survey, pipeline, permissions)
    if aux_view is not None:
        active = replace(active, alias_rights=None)
    explainer = Explainer(active.pipeline, frozenset(int(c) for c in trace))
    query = alert_query(active, start_jd, end_jd, object_ids, candids)
    for documents in _archive_documents(db, survey, query, aux_view, active):
        explainer.add(documents.documents(active.programids, active.alias_rights)[1])
    return explainer.report()


def _archive_documents(db: Database, survey: str, query: Mapping[str, Any],
                       aux_view: Sequence[Mapping[str, Any]] | None, active: ActiveFilter
                       ) -> Iterator[FilterDocuments]:
    """The filter documents of the stored alerts ``query`` selects, chunk by chunk in
    ``jd`` order, each with its object's history as it stood (no look-ahead), and what
    ``active`` needs to trim ``aliases.ZTF`` (one read a chunk)."""
    names = collection_names(survey)
    cursor = (db[names["alerts"]].find(dict(query), {name: 1 for name in ALERT_FIELDS})
              .sort([("candidate.jd", 1), ("_id", 1)]).batch_size(CHUNK))
    for alerts in _chunks(cursor, CHUNK):
        owners = list({a.get("objectId") for a in alerts})
        aux = _aux_documents(db[names["alerts_aux"]], owners, aux_view)
        documents = FilterDocuments.from_archive(survey, alerts, aux)
        if active.alias_rights is not None:
            documents.alias_programids = ztf_alias_programids(db, documents.alias_ids())
        yield documents


def alert_query(active: ActiveFilter, start_jd: float, end_jd: float,
                object_ids: Sequence[Any] | None = None,
                candids: Sequence[int] | None = None) -> dict[str, Any]:
    """The stored alerts a backtest of ``active`` reads: the jd window (inclusive), the
    filter's programids, optionally these objects or alert ids."""
    query: dict[str, Any] = {"candidate.jd": {"$gte": float(start_jd), "$lte": float(end_jd)}}
    if object_ids is not None:
        query["objectId"] = {"$in": list(object_ids)}
    if candids is not None:
        query["_id"] = {"$in": [int(c) for c in candids]}
    if active.programids is not None:
        query["candidate.programid"] = {"$in": list(active.programids)}
    return query


def test_filter_on_files(path: Path, *, survey: str, pipeline: str | bytes | list[Any],
                         permissions: Mapping[str, Iterable[int]] | None,
                         batch_size: int = CHUNK, limit: int | None = None,
                         survey_options: Mapping[str, Any] | None = None,
                         ) -> tuple[int, list[dict[str, Any]]]:
    """(alerts read, outputs) of ``pipeline`` over a night of files, replayed in order
    in batches; each object's history accumulates from batch to batch in memory, as
    the archive would hold it, so no archive is needed."""
    active = backtest_filter(survey, pipeline, permissions)
    outputs: list[dict[str, Any]] = []
    alerts = 0
    for size, documents in _file_documents(path, survey, batch_size, survey_options):
        alerts += size
        outputs += _passing(documents, active)
        if limit is not None and len(outputs) >= limit:
            return alerts, outputs[:limit]
    return alerts, outputs


def explain_on_files(path: Path, *, survey: str, pipeline: str | bytes | list[Any],
                     permissions: Mapping[str, Iterable[int]] | None,
                     trace: Iterable[int] = (), batch_size: int = CHUNK,
                     survey_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``explain_on_archive`` over a night of files, replayed as ``test_filter_on_files``
    replays it."""
    active = backtest_filter(survey, pipeline, permissions)
    explainer = Explainer(active.pipeline, frozenset(int(c) for c in trace))
    for _, documents in _file_documents(path, survey, batch_size, survey_options):
        explainer.add(documents.documents(active.programids, active.alias_rights)[1])
    return explainer.report()


def _file_documents(path: Path, survey: str, batch_size: int,
                    survey_options: Mapping[str, Any] | None
                    ) -> Iterator[tuple[int, FilterDocuments]]:
    """(alerts read, their filter documents) batch by batch; each object's history
    accumulates in memory from batch to batch, as the archive would hold it."""
    from boom_flow.sources.files import file_batches

    decoder = build_survey(survey.lower(), **dict(survey_options or {}))
    objects: dict[Any, dict[str, Any]] = {}
    for raw in file_batches(Path(path), batch_size, None):
        batch: AlertBatch = decoder.decode(raw.packets)
        owners = set(batch.alerts["objectId"].dropna().tolist())
        documents = FilterDocuments.from_batch(
            batch, stored=[objects[o] for o in owners if o in objects])
        yield len(batch), documents
        objects.update((doc["_id"], doc) for doc in documents.aux_documents())


def _aux_documents(collection: Collection, owners: list[Any],
                   view: Sequence[Mapping[str, Any]] | None) -> Iterable[dict[str, Any]]:
    if not view:
        return collection.find({"_id": {"$in": owners}}, _AUX_PROJECTION)
    return collection.aggregate([{"$match": {"_id": {"$in": owners}}}, *map(dict, view),
                                 {"$project": _AUX_PROJECTION}])


def _passing(documents: FilterDocuments, active: ActiveFilter) -> list[dict[str, Any]]:
    evaluation = evaluate(documents, [active], int(time.time() * 1000))
    where = {int(row): i for i, row in enumerate(documents.rows.tolist())}
    order = sorted(evaluation.passed, key=lambda row: (documents.alert_jd[where[row]], row))
    return [p["output"] for row in order for p in evaluation.passed[row]]


# Their names start with ``test_`` (the API's words): not tests for pytest to collect.
test_filter_on_archive.__test__ = False  # type: ignore[attr-defined]
test_filter_on_files.__test__ = False  # type: ignore[attr-defined]


def _chunks(cursor: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in cursor:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
