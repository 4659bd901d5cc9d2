"""Read what the archive knows of a batch's objects: one ``find`` per batch.

The light-curve features, the crossmatch (which objects are new) and the filters
(history as it stood when the alert arrived) all need the objects' stored aux
documents; they get them from ``AlertBatch.known``, filled here once on the worker
before the stages run.

It also reads which of the batch's alerts the archive already holds *with another
content* (the same id, another candidate: a re-used id, a corrected packet). The
archive keeps the version it stored first (``$setOnInsert``), which was filtered
when it was stored; such rows are marked ``_superseded`` so that the filters publish
nothing for a version that is then discarded. (A packet delivered again unchanged
is not superseded: its results are published once, by the publisher's ledger.)
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
from pymongo.database import Database

from boom_flow.core import SUPERSEDED, AlertBatch, KnownHistory
from boom_flow.core.history import HISTORY_KINDS
from boom_flow.storage.archive import collection_names, distinct_alerts
from boom_flow.storage.documents import column_values

#: The fields of an aux document the stages use (``_id`` besides).
KNOWN_FIELDS = (*HISTORY_KINDS, "cross_matches", "aliases")


def load_known(db: Database, batch: AlertBatch) -> AlertBatch:
    """A copy of ``batch`` with ``known`` filled from ``{S}_alerts_aux``."""
    object_ids = list({o for o in column_values(batch.alerts, "objectId") if o is not None})
    aux = db[collection_names(batch.survey)["alerts_aux"]]
    # Whole documents, trimmed here: a projection costs the server a walk over every
    # stored point (~40% of this read's server CPU at a dozen points an object, more as
    # the history grows), while the fields left out are a few small ones.
    found = aux.find({"_id": {"$in": object_ids}}, batch_size=len(object_ids) + 1
                     ) if object_ids else ()
    documents = [{key: value for key, value in doc.items() if key in _KEPT} for doc in found]
    objects = pd.DataFrame({
        "objectId": pd.Series([d["_id"] for d in documents], dtype=object),
        "cross_matches": pd.Series([d.get("cross_matches") for d in documents], dtype=object),
        "aliases": pd.Series([d.get("aliases") for d in documents], dtype=object),
    })
    # The point tables are left to ``core.history``, which reads the few fields a stage
    # asks for from these documents.
    known = replace(batch, known=KnownHistory(objects=objects, documents=tuple(documents)))
    return known.with_enrichment(SUPERSEDED, superseded_rows(db, batch))


def superseded_rows(db: Database, batch: AlertBatch) -> pd.Series:
    """True for the rows whose alert id the archive already holds with another
    candidate (one ``find`` on ``_id``, answered only for ids already stored)."""
    distinct = distinct_alerts(batch)
    flags = [False] * len(batch)
    if not distinct.ids:
        return pd.Series(flags, dtype=bool)
    alerts = db[collection_names(batch.survey)["alerts"]]
    stored = {d["_id"]: d.get("candidate")
              for d in alerts.find({"_id": {"$in": distinct.ids}}, {"candidate": 1})}
    if stored:
        for row, alert_id, candidate in zip(distinct.rows.tolist(), distinct.ids,
                                            distinct.candidates, strict=True):
            if alert_id in stored and stored[alert_id] != candidate:
                flags[row] = True
    return pd.Series(flags, dtype=bool)


_KEPT = frozenset(("_id", *KNOWN_FIELDS))

