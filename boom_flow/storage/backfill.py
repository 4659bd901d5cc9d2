"""Back-fill: a catalog ingested after objects were archived, matched to them.

Walks ``{S}_alerts_aux`` in ``_id`` order, a page at a time (an index range scan per
page, reading only ``_id``, the position and whether ``cross_matches.NAME`` is set),
matches the page's objects that lack ``cross_matches.NAME`` in one vectorised call, and
writes them with one unordered bulk write. Resumable by construction: an object
already back-filled (or matched when it was created) is skipped, so an interrupted run
started again finishes the job without redoing it; ``after`` restarts from a given id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne
from pymongo.database import Database

from boom_flow.crossmatch.matching import CatalogSpec, match_catalog
from boom_flow.crossmatch.reader import CatalogReader
from boom_flow.crossmatch.sky import usable
from boom_flow.storage.archive import collection_names
from boom_flow.storage.documents import clean_value, stored_positions

DEFAULT_PAGE = 2_000


@dataclass
class BackfillSummary:
    #: Objects read.
    scanned: int = 0
    #: Objects that already had the catalog (skipped).
    already: int = 0
    #: Objects written now.
    matched: int = 0
    #: ... of which with at least one match.
    with_matches: int = 0
    #: Objects without a usable position (left without the catalog).
    no_position: int = 0
    #: Bulk writes (one per page with work).
    writes: int = 0
    last_id: Any = None


def _pages(db: Database, survey: str, name: str, page: int, after: Any
           ) -> Iterator[list[dict[str, Any]]]:
    aux = db[collection_names(survey)["alerts_aux"]]
    projection = {"coordinates.radec_geojson": 1, f"cross_matches.{name}": 1}
    last = after
    while True:
        query = {} if last is None else {"_id": {"$gt": last}}
        documents = list(aux.find(query, projection, batch_size=page + 1).sort("_id", 1)
                         .limit(page))
        if not documents:
            return
        yield documents
        last = documents[-1]["_id"]


def backfill_catalog(db: Database, survey: str, spec: CatalogSpec, reader: CatalogReader,
                     page: int = DEFAULT_PAGE, after: Any = None,
                     progress: Callable[[int], None] | None = None) -> BackfillSummary:
    """Set ``cross_matches.<catalog>`` on every archived object of ``survey`` that lacks it."""
    summary = BackfillSummary()
    name = spec.catalog
    aux = db[collection_names(survey)["alerts_aux"]]
    for documents in _pages(db, survey, name, page, after):
        summary.scanned += len(documents)
        summary.last_id = documents[-1]["_id"]
        todo = [d for d in documents if name not in (d.get("cross_matches") or {})]
        summary.already += len(documents) - len(todo)
        ra, dec = stored_positions(todo)
        placed = usable(ra, dec)
        summary.no_position += int((~placed).sum())
        chosen = [d for d, ok in zip(todo, placed.tolist(), strict=True) if ok]
        if chosen:
            found = match_catalog(reader, spec, ra[placed], dec[placed])
            aux.bulk_write([
                # The filter keeps a concurrent writer's value (e.g. the pipeline's own).
                UpdateOne({"_id": d["_id"], f"cross_matches.{name}": {"$exists": False}},
                          {"$set": {f"cross_matches.{name}": clean_value(matches)}})
                for d, matches in zip(chosen, found, strict=True)], ordered=False)
            summary.writes += 1
            summary.matched += len(chosen)
            summary.with_matches += sum(1 for matches in found if matches)
        if progress is not None:
            progress(len(documents))
    return summary
