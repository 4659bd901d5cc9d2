"""What a run produced, in a canonical form two runs can be compared by: every stored
document of the survey's collections and every published filter result, without the
fields that only say when (``created_at``, ``updated_at``, ``received_at``,
``passed_at``), cutout bytes as their SHA-256, NaN as a string (so it equals itself)
and filters by name (their ids differ from run to run).

``digest`` of it gives one short number to compare by hand with another checkout
(``python -m tests.pipeline.equivalence MONGO_URI DATABASE VALKEY_URL``).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Mapping
from typing import Any

import pymongo
import redis

from boom_flow.filters.results import stream_key

VOLATILE = frozenset({"created_at", "updated_at", "received_at", "passed_at"})
COLLECTIONS = ("alerts", "alerts_aux", "alerts_cutouts", "alerts_rejected")
HISTORY_ARRAYS = ("prv_candidates", "prv_nondetections", "fp_hists")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def canonical_archive(db: Any, survey: str) -> dict[str, list[Any]]:
    """The survey's documents, collection by collection, sorted by ``_id``."""
    return {kind: sorted((_plain(d) for d in db[f"{survey.upper()}_{kind}"].find()),
                         key=lambda d: repr(d["_id"]))
            for kind in COLLECTIONS}


def without_null_point_fields(archive: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``archive`` with the null fields of the aux history points left out. A history
    table holds the union of its packets' fields, so which fields a point carries as
    null depends on the other packets of its batch (as it always did); this view
    compares runs whose batches were cut differently."""
    def points(document: dict[str, Any]) -> dict[str, Any]:
        return {k: [{f: v for f, v in p.items() if v is not None} for p in value]
                if k in HISTORY_ARRAYS else value for k, value in document.items()}
    return {**archive, "alerts_aux": [points(d) for d in archive["alerts_aux"]]}


def canonical_results(valkey: Any, filters: Mapping[str, str]) -> dict[str, list[Any]]:
    """Each filter's stream entries (by filter name), sorted by alert id."""
    out = {}
    for name, filter_id in filters.items():
        entries = [json.loads(fields[b"data"])
                   for _, fields in valkey.xrange(stream_key(filter_id))]
        for entry in entries:
            entry.pop("filter_id")
        out[name] = sorted((_plain(e) for e in entries), key=lambda e: e["candid"])
    return out


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def main(uri: str, database: str, valkey_url: str, survey: str = "ztf") -> None:
    """Print the digests of a run's database (and filter results) by hand."""
    db = pymongo.MongoClient(uri)[database]
    filters = {d["name"]: d["_id"] for d in db.filters.find({"survey": survey.upper()})}
    archive = canonical_archive(db, survey)
    results = canonical_results(redis.Redis.from_url(valkey_url), filters)
    for kind, documents in archive.items():
        print(f"{kind}: {len(documents)} documents, digest {digest(documents)}")
    for name, entries in results.items():
        print(f"results {name}: {len(entries)}, digest {digest(entries)}")
    print(f"all: {digest([archive, results])}")


if __name__ == "__main__":
    main(*sys.argv[1:])
