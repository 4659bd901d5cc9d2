"""The filter stage: every active filter of the survey on the batch, before the write.

``filter_batch`` is the pure function: given the active filters it adds two private
enrichments (names starting with ``_`` are not stored by the archive writer):

- ``_filter_results``: per alert, None or ``{"filters": [...], "photometry": [...]}``,
  one entry per filter it passed (``filter_id``, ``filter_name``, ``fid``,
  ``passed_at`` in ms, ``annotations``, the projected ``output``), and the light curve
  a result record carries, trimmed to what every one of those filters may see;
- ``_filter_errors``: per alert, None or the filters whose evaluation failed on it,
  with the reason (the results sink keeps and counts them).

Rows marked ``_superseded`` (``storage.known``: the archive holds that alert id with
another content, and keeps it) get no result and no error: the stored version was
filtered when it was stored, and the discarded one must not be published.

``FilterStage`` asks a provider for the active filters once per batch: on a worker the
live one (``boom_flow.filters.live``, built in ``setup``), which reloads them when they
change. Importing this module imports neither pymongo nor redis (only ``setup`` does),
so tools that evaluate filters stay light.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from boom_flow.config import Settings
from boom_flow.core import SUPERSEDED, AlertBatch
from boom_flow.filters.active import ActiveFilter
from boom_flow.filters.aliases import AliasVisibility
from boom_flow.filters.documents import FilterDocuments
from boom_flow.filters.evaluate import ERRORS, RESULTS, evaluate, photometry, record_rights
from boom_flow.stages import Resources, Stage, check_params


def filter_batch(batch: AlertBatch, filters: Sequence[ActiveFilter],
                 now_ms: int | None = None,
                 alias_visibility: AliasVisibility | None = None) -> AlertBatch:
    """``batch`` with ``_filter_results`` and ``_filter_errors`` (see the module doc).

    ``alias_visibility`` reads, once for the batch, what trims ``aliases.ZTF`` for
    filters whose owners may not see every ZTF programid (without it, they see none)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    results: list[Any] = [None] * len(batch)
    errors: list[Any] = [None] * len(batch)
    wanted = [f for f in filters if f.survey == batch.survey.upper()]
    superseded = (batch.enrichments[SUPERSEDED].to_numpy(dtype=bool)
                  if SUPERSEDED in batch.enrichments else np.zeros(len(batch), dtype=bool))
    if wanted and len(batch) and not superseded.all():
        documents = FilterDocuments.from_batch(batch)
        if alias_visibility is not None and any(f.alias_rights is not None for f in wanted):
            documents.alias_programids = alias_visibility(documents.alias_ids())
        evaluation = evaluate(documents, wanted, now_ms)
        positions: dict[Any, dict[int, int]] = {}
        for row, passes in evaluation.passed.items():
            if superseded[row]:
                continue
            rights = record_rights(passes)
            rows, docs = documents.documents(rights)
            if rights not in positions:
                positions[rights] = {int(r): i for i, r in enumerate(rows.tolist())}
            document = docs[positions[rights][row]]
            results[row] = {"filters": passes,
                            "photometry": photometry(document, batch.survey.upper())}
        for row, failed in evaluation.errors.items():
            if not superseded[row]:
                errors[row] = failed
    return (batch.with_enrichment(RESULTS, pd.Series(results, dtype=object))
            .with_enrichment(ERRORS, pd.Series(errors, dtype=object)))


def _now_ms() -> int:
    return int(time.time() * 1000)

@dataclass
class FilterStage(Stage):
    """The stage: the provider's current filters on each batch. Configured, it has no
    provider; ``setup`` builds the live one from the worker's MongoDB and Valkey."""

    name: ClassVar[str] = "filter"
    needs: ClassVar[frozenset[str]] = frozenset({"mongo", "valkey"})

    provider: Callable[[], Sequence[ActiveFilter]] | None = None
    clock_ms: Callable[[], int] = _now_ms
    survey: str = ""
    #: Reload the filters at least this often (seconds; None: ``LiveFilters``' default).
    reload_s: float | None = None
    #: The batch's one read of which ZTF objects its aliases name may be shown to whom
    #: (``filters.aliases``; built in ``setup``).
    alias_visibility: AliasVisibility | None = None

    @classmethod
    def configure(cls, settings: Settings, survey: str, params: Mapping[str, Any]) -> Self:
        check_params(cls.name, params, ("reload_s",))
        reload_s = params.get("reload_s")
        return cls(survey=survey.upper(), reload_s=None if reload_s is None else float(reload_s))

    def setup(self, resources: Resources) -> None:
        if self.provider is not None:
            return
        # Here, not at the top: the evaluator must stay importable without the clients.
        from boom_flow.filters.aliases import alias_visibility
        from boom_flow.filters.live import live_filters

        self.provider = live_filters(resources.get("mongo"), resources.get("valkey"),
                                     self.survey, self.reload_s)
        self.alias_visibility = alias_visibility(resources.get("mongo"))

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        if self.provider is None:
            raise RuntimeError("the filter stage runs after setup")
        return filter_batch(batch, self.provider(), self.clock_ms(), self.alias_visibility)
