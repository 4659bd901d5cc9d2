"""Which ZTF objects a non-ZTF filter may see named in ``aliases.ZTF``: one read a batch.

An LSST object's ``aliases.ZTF`` names ZTF objects, and a ZTF object seen only in
programids 2 or 3 must not be revealed to a user without those rights. The API's view
keeps an alias when the ZTF object has a detection in a programid the user may see
(``api.rights``); the filter stage applies the same rule to each live filter, with the
programids of every alias of the batch read here in one ``find``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the filter stage imports this module: no database client here
    from pymongo.database import Database

#: ZTF object ids -> the programids of each one's detections.
AliasVisibility = Callable[[Sequence[Any]], dict[Any, frozenset[int]]]


def ztf_alias_programids(db: Database, object_ids: Sequence[Any]) -> dict[Any, frozenset[int]]:
    """The programids of the stored detections of each of ``object_ids`` (absent: an
    object the archive does not hold, which no filter with limited rights may see)."""
    from boom_flow.storage.archive import collection_names

    if not object_ids:
        return {}
    aux = db[collection_names("ZTF")["alerts_aux"]]
    found: dict[Any, frozenset[int]] = {}
    for document in aux.find({"_id": {"$in": list(object_ids)}}, {"prv_candidates.programid": 1},
                             batch_size=len(object_ids) + 1):
        found[document["_id"]] = frozenset(
            int(p["programid"]) for p in document.get("prv_candidates") or ()
            if isinstance(p, dict) and isinstance(p.get("programid"), int))
    return found


def alias_visibility(db: Database) -> AliasVisibility:
    """``ztf_alias_programids`` bound to ``db``."""
    return lambda object_ids: ztf_alias_programids(db, object_ids)
