"""Run every active filter over a batch's documents: which alerts pass, with what output.

Filters are grouped by permission set, so the documents of one set are built once
whatever the number of filters. Each filter runs once over all its documents; a
document whose values make an operator fail (MongoDB would fail the whole aggregate)
is set aside with the reason and the rest of the batch still runs: one user's filter
never stops the stream. The live stage and the backtests share this code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from boom_flow.filters.active import ActiveFilter
from boom_flow.filters.documents import (
    HISTORY_KINDS,
    AliasRights,
    FilterDocuments,
    Programids,
)

#: The batch enrichments the filter stage adds (private: the archive does not store them).
RESULTS = "_filter_results"
ERRORS = "_filter_errors"
#: Photometry points of a result record: the detections and the forced photometry.
PHOTOMETRY_ORIGINS = (("prv_candidates", "alert"), ("fp_hists", "forced"))


@dataclass
class Evaluation:
    """Per batch row: the filters it passed, and the evaluation errors it caused."""

    passed: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def evaluate(documents: FilterDocuments, filters: Sequence[ActiveFilter], now_ms: int
             ) -> Evaluation:
    """Every filter over the documents its rights allow. Copies of one pipeline with the
    same rights (``ActiveFilter.signature``) are evaluated once."""
    result = Evaluation()
    done: dict[tuple[str, Programids, AliasRights, str | None], Any] = {}
    for active in filters:
        if active.survey != documents.survey:
            continue
        rows, docs = documents.documents(active.programids, active.alias_rights)
        watched: list[Any] | None = None
        if active.watchlist is not None:
            rows, docs, watched = documents.on_watchlist(rows, docs, active.watchlist)
        if not docs:
            continue
        key = (active.signature, active.programids, active.alias_rights,
               active.watchlist.watchlist_id if active.watchlist is not None else None)
        if not active.signature or key not in done:
            done[key] = run_tolerant(active, docs)
        outputs, failures = done[key]
        for position, output in outputs:
            if watched is not None:
                output = with_watchlist(output, watched[position])
            result.passed.setdefault(int(rows[position]), []).append({
                "filter_id": active.filter_id, "filter_name": active.name, "fid": active.fid,
                "programids": active.programids, "passed_at": now_ms,
                "annotations": output.get("annotations", {}), "output": output,
            })
        for position, reason in failures:
            result.errors.setdefault(int(rows[position]), []).append({
                "filter_id": active.filter_id, "fid": active.fid, "reason": reason})
    return result


def with_watchlist(output: dict[str, Any], matches: list[dict[str, Any]]) -> dict[str, Any]:
    """``output`` (a copy) whose ``annotations.watchlist`` names the matched targets."""
    annotations = output.get("annotations")
    annotations = dict(annotations) if isinstance(annotations, Mapping) else {}
    annotations["watchlist"] = matches
    return {**output, "annotations": annotations}


def run_tolerant(active: ActiveFilter, docs: Sequence[Mapping[str, Any]]
                 ) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """(position, output) of the passing documents and (position, reason) of the failing
    ones. A failure at position k (``EvaluationError.index``) is set aside and both sides
    of it run again, so a few bad documents cost a few more runs, not one run each.
    A pipeline with ``$sort``/``$limit``/``$group`` runs once over all the documents,
    each output reported for the alert it stems from (``mql.batch_stages``)."""
    if active.compiled.batch:
        return _over_the_batch(active, docs)
    if active.per_document:
        return _one_by_one(active, docs, range(len(docs)))
    outputs: list[tuple[int, dict[str, Any]]] = []
    failures: list[tuple[int, str]] = []
    pending = [(0, len(docs))]
    while pending:
        start, stop = pending.pop()
        if start >= stop:
            continue
        try:
            produced = active.compiled.run(docs[start:stop])
        except Exception as error:  # a filter must never stop the batch
            index = getattr(error, "index", None)
            if not isinstance(index, int) or not 0 <= index < stop - start:
                found, failed = _one_by_one(active, docs, range(start, stop))
                outputs += found
                failures += failed
                continue
            failures.append((start + index, _reason(error)))
            pending += [(start, start + index), (start + index + 1, stop)]
            continue
        outputs += _traced(active, docs, start, stop, produced)
    outputs.sort(key=lambda pair: pair[0])
    return outputs, failures


def _over_the_batch(active: ActiveFilter, docs: Sequence[Mapping[str, Any]]
                    ) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    outputs, failures = [], []
    for position, outcome in enumerate(active.compiled.run_each(docs)):
        if isinstance(outcome, Exception):
            failures.append((position, _reason(outcome)))
        elif outcome is not None:
            outputs.append((position, _delivered(active, outcome)))
    return outputs, failures


def _traced(active: ActiveFilter, docs: Sequence[Mapping[str, Any]], start: int, stop: int,
            produced: Sequence[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Outputs matched to their documents by ``_id`` (kept by ``keep_alert_id``)."""
    where = {docs[i]["_id"]: i for i in range(start, stop)}
    traced = []
    for output in produced:
        position = where.get(output.get("_id"))
        if position is None:
            return _one_by_one(active, docs, range(start, stop))[0]
        traced.append((position, _delivered(active, output)))
    return traced


def _one_by_one(active: ActiveFilter, docs: Sequence[Mapping[str, Any]], positions: range
                ) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    outputs, failures = [], []
    for position in positions:
        try:
            produced = active.compiled.run([docs[position]])
        except Exception as error:  # counted and kept, never raised
            failures.append((position, _reason(error)))
            continue
        outputs += [(position, _delivered(active, output)) for output in produced[:1]]
    return outputs, failures


def _delivered(active: ActiveFilter, output: dict[str, Any]) -> dict[str, Any]:
    if active.hides_id:
        return {k: v for k, v in output.items() if k != "_id"}
    return output


def _reason(error: Exception) -> str:
    operator = getattr(error, "operator", None)
    prefix = f"{operator}: " if operator and operator not in str(error) else ""
    return f"{type(error).__name__}: {prefix}{error}"


def annotations_json(annotations: Any) -> str:
    """The annotations as JSON text (non-finite floats become null; other values that
    JSON cannot hold, such as dates or bytes, become strings)."""
    return json.dumps(_finite(annotations), default=str, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def photometry(document: Mapping[str, Any], survey: str) -> list[dict[str, Any]]:
    """The light curve a result record carries: detections and forced points of the
    document (so trimmed to the rights it was built with), sorted by ``jd``."""
    points = []
    for kind, origin in PHOTOMETRY_ORIGINS:
        assert kind in HISTORY_KINDS
        for point in document.get(kind) or ():
            jd = point.get("jd")
            if not isinstance(jd, int | float):
                continue
            points.append({
                "jd": float(jd), "flux": _float(point.get("psfFlux")),
                "flux_err": _float(point.get("psfFluxErr")), "band": point.get("band"),
                "origin": origin, "programid": _int(point.get("programid")),
                "survey": survey, "ra": _float(point.get("ra")), "dec": _float(point.get("dec")),
            })
    points.sort(key=lambda p: (p["jd"], p["origin"]))
    return points


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value) else None


def record_rights(passes: Sequence[Mapping[str, Any]]) -> Programids:
    """The rights a result record is built with: what every filter it names may see (so
    a record never shows a point one of its filters' owners may not see)."""
    sets = [p["programids"] for p in passes if p["programids"] is not None]
    if not sets:
        return None
    common = set(sets[0]).intersection(*sets[1:])
    return tuple(sorted(common))
