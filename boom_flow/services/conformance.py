"""Does the configured document server behave as MongoDB documents? ``doctor --conformance``.

boom_flow's users send MongoDB queries and pipelines to ``/queries`` and the archive
answers them on whatever server the site runs: MongoDB, the embedded SecantusDB, or a
"compatible" one (FerretDB, DocumentDB, Cosmos DB). Where such a server answers
differently, a user's query silently gives another answer than on MongoDB. Each probe
here stores a few documents, runs one documented behaviour on the server, and compares
the answer with MongoDB's documented result (written here by hand, never taken from a
server); the report lists every deviation.

Areas: aggregation expressions, field paths through arrays, missing vs null, ``$lookup``,
2dsphere queries and collations: what the filters, the API and the users rely on.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError

Documents = Sequence[dict[str, Any]]
Operation = Callable[[Collection, Collection], Any]


@dataclass(frozen=True)
class Probe:
    """One documented MongoDB behaviour: documents, what to run, MongoDB's answer."""

    area: str
    name: str
    #: Documents of the probed collection (``docs``) and of a second one (``other``,
    #: the ``from`` of ``$lookup``).
    documents: Documents
    run: Operation
    expected: Any
    #: Where MongoDB documents it (the manual page, in words).
    reference: str
    other: Documents = ()
    #: Indexes to build first: (collection "docs" or "other", keys).
    indexes: tuple[tuple[str, list[tuple[str, Any]]], ...] = ()


@dataclass(frozen=True)
class Finding:
    """A probe's outcome on the server: ``deviates`` when its answer is not MongoDB's."""

    area: str
    name: str
    expected: Any
    got: Any
    reference: str
    error: str = ""

    @property
    def deviates(self) -> bool:
        return bool(self.error) or not same(self.got, self.expected)


def same(left: Any, right: Any) -> bool:
    """Equal with BSON types apart (``1`` is not ``1.0`` is not ``true``)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(same, left, right))
    if type(left) is not type(right):
        return False
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


def _project(expression: Any) -> Operation:
    """The value of ``expression`` for the first document (``"<missing>"`` if absent)."""
    def run(docs: Collection, other: Collection) -> Any:
        out = list(docs.aggregate([{"$sort": {"_id": 1}}, {"$limit": 1},
                                   {"$project": {"_id": 0, "r": expression}}]))
        return out[0].get("r", MISSING) if out else MISSING
    return run


def _aggregate(*stages: dict[str, Any]) -> Operation:
    def run(docs: Collection, other: Collection) -> Any:
        return list(docs.aggregate([{"$sort": {"_id": 1}}, *stages]))
    return run


def _find_ids(query: dict[str, Any], **options: Any) -> Operation:
    def run(docs: Collection, other: Collection) -> Any:
        return [d["_id"] for d in docs.find(query, {"_id": 1}, **options)]
    return run


def _lookup(local: str, foreign: str) -> Operation:
    def run(docs: Collection, other: Collection) -> Any:
        stages = [{"$sort": {"_id": 1}},
                  {"$lookup": {"from": other.name, "localField": local,
                               "foreignField": foreign, "as": "joined"}}]
        return [[d["_id"], sorted(j["_id"] for j in d.get("joined", []))]
                for d in docs.aggregate(stages)]
    return run


#: Shown for a value the server left out (MongoDB's "missing").
MISSING = "<missing>"
_LIGHT_CURVE = [{"_id": 1, "prv_candidates": [{"jd": 1.5, "magpsf": 18.5},
                                              {"jd": 2.5, "magpsf": 19.25}]}]
_POINTS = [  # RA - 180 as the archive stores it; 10" and 1' from (0, 0), and far away
    {"_id": 1, "loc": {"type": "Point", "coordinates": [-180.0 + 10 / 3600, 0.0]}},
    {"_id": 2, "loc": {"type": "Point", "coordinates": [180.0 - 60 / 3600, 0.0]}},
    {"_id": 3, "loc": {"type": "Point", "coordinates": [0.0, 45.0]}},
]
_GEO_INDEX = (("docs", [("loc", "2dsphere")]),)
_RADIANS_2_ARCMIN = 2 / 60 * math.pi / 180

PROBES: tuple[Probe, ...] = (
    Probe("array paths", "$arrayElemAt of a field path through an array of documents",
          _LIGHT_CURVE, _project({"$arrayElemAt": ["$prv_candidates.magpsf", 0]}), 18.5,
          "Aggregation field paths: '$a.b' through an array of documents is the array of "
          "the b values"),
    Probe("array paths", "a field path through an array of documents",
          [{"_id": 1, "a": [{"b": 1}, {"c": 2}, {"b": [3]}]}], _project("$a.b"), [1, [3]],
          "Aggregation field paths (documents lacking the field are skipped, arrays kept)"),
    Probe("array paths", "$size of a field path through an array",
          _LIGHT_CURVE, _project({"$size": "$prv_candidates.jd"}), 2,
          "Aggregation field paths"),
    Probe("array paths", "$match on a path through an array matches any element",
          [{"_id": 1, "a": [{"b": 1}, {"b": 5}]}, {"_id": 2, "a": [{"b": 1}]}],
          _find_ids({"a.b": {"$gt": 3}}), [1], "Query an array of embedded documents"),
    Probe("missing vs null", "$type of an absent field is 'missing'",
          [{"_id": 1}], _project({"$type": "$x"}), "missing", "$type (aggregation)"),
    Probe("missing vs null", "a variable path to an absent field is missing",
          [{"_id": 1}], _project("$$ROOT.x"), MISSING, "Aggregation variables: $$ROOT"),
    Probe("missing vs null", "missing is not $in [null] in an expression",
          [{"_id": 1}], _project({"$in": ["$x", [None]]}), False,
          "Comparison/sort order: missing and null are distinct values"),
    Probe("missing vs null", "{field: null} matches null and absent fields",
          [{"_id": 1, "x": None}, {"_id": 2}, {"_id": 3, "x": 0}],
          _find_ids({"x": None}), [1, 2], "Query for null or missing fields"),
    Probe("missing vs null", "$exists tells null from absent",
          [{"_id": 1, "x": None}, {"_id": 2}], _find_ids({"x": {"$exists": True}}), [1],
          "$exists"),
    Probe("expressions", "$first of an empty array gives no value",
          [{"_id": 1, "a": []}], _project({"$first": "$a"}), MISSING, "$first (array operator)"),
    Probe("expressions", "objects compare field by field in stored order",
          [{"_id": 1}], _project({"$eq": [{"b": 1, "c": 2}, {"c": 2, "b": 1}]}), False,
          "Comparison/sort order: embedded documents"),
    Probe("expressions", "$sortArray orders mixed types by BSON order",
          [{"_id": 1, "a": [None, 5, "a", 2.5, True]}],
          _project({"$sortArray": {"input": "$a", "sortBy": 1}}), [None, 2.5, 5, "a", True],
          "$sortArray; comparison/sort order"),
    Probe("expressions", "$lt in an expression orders across types (null < number)",
          [{"_id": 1}], _project({"$lt": [None, 7]}), True, "Comparison/sort order"),
    Probe("expressions", "a nested inclusion projection keeps the sub-fields",
          [{"_id": 1, "c": {"jd": 2.5, "m": 18.0, "x": 1}}],
          _aggregate({"$project": {"c": {"jd": 1, "m": 1}}}),
          [{"_id": 1, "c": {"jd": 2.5, "m": 18.0}}], "$project: embedded document fields"),
    Probe("expressions", "$regexMatch ignores case with option i",
          [{"_id": 1, "s": "ZTF21abc"}],
          _project({"$regexMatch": {"input": "$s", "regex": "^ztf", "options": "i"}}), True,
          "$regexMatch"),
    Probe("expressions", "\\w is ASCII-only (PCRE2 in UTF mode, without UCP)",
          [{"_id": 1, "s": "\u00e9"}],
          _project({"$regexMatch": {"input": "$s", "regex": "^\\w$"}}), False,
          "$regex: MongoDB uses PCRE2 with the UTF option only"),
    Probe("expressions", "\\Z also matches before a final newline (PCRE)",
          [{"_id": 1, "s": "ab\n"}],
          _project({"$regexMatch": {"input": "$s", "regex": "b\\Z"}}), True,
          "$regex: PCRE2 syntax"),
    Probe("$lookup", "localField array matches any element",
          [{"_id": 1, "ids": [10, 30]}], _lookup("ids", "_id"), [[1, [10, 30]]],
          "$lookup: equality match with a single join condition",
          other=[{"_id": 10}, {"_id": 20}, {"_id": 30}]),
    Probe("$lookup", "an absent localField joins foreign null and absent fields",
          [{"_id": 1}], _lookup("k", "k"), [[1, [10, 20]]],
          "$lookup: a missing localField matches null or missing foreignField",
          other=[{"_id": 10, "k": None}, {"_id": 20}, {"_id": 30, "k": 1}]),
    Probe("2dsphere", "$geoWithin $centerSphere across RA 0 (stored as -180/180)",
          _POINTS, _find_ids({"loc": {"$geoWithin": {"$centerSphere": [[-180.0, 0.0],
                                                                        _RADIANS_2_ARCMIN]}}},
                             sort=[("_id", 1)]),
          [1, 2], "$centerSphere", indexes=_GEO_INDEX),
    Probe("2dsphere", "$nearSphere returns the nearest first",
          _POINTS, _find_ids({"loc": {"$nearSphere": {  # 1 is 10" away, 2 is 1' away
              "$geometry": {"type": "Point", "coordinates": [180.0, 0.0]},
              "$maxDistance": 200_000}}}),
          [1, 2], "$nearSphere (sorted by distance, metres)", indexes=_GEO_INDEX),
    Probe("collation", "strength 2 compares without case",
          [{"_id": 1, "s": "abc"}, {"_id": 2, "s": "ABC"}, {"_id": 3, "s": "abd"}],
          _find_ids({"s": "abc"}, collation={"locale": "en", "strength": 2},
                    sort=[("_id", 1)]),
          [1, 2], "Collation: strength 2"),
    Probe("collation", "numericOrdering sorts digits as numbers",
          [{"_id": 1, "s": "10"}, {"_id": 2, "s": "9"}, {"_id": 3, "s": "100"}],
          _find_ids({}, collation={"locale": "en", "numericOrdering": True},
                    sort=[("s", 1)]),
          [2, 1, 3], "Collation: numericOrdering"),
)


def run_probe(db: Database, probe: Probe) -> Finding:
    """Run one probe in collections of its own (dropped afterwards)."""
    suffix = uuid.uuid4().hex[:10]
    docs, other = db[f"_boom_flow_conformance_{suffix}"], db[f"_boom_flow_conformance_{suffix}_b"]
    try:
        if probe.documents:
            docs.insert_many([dict(d) for d in probe.documents])
        if probe.other:
            other.insert_many([dict(d) for d in probe.other])
        for which, keys in probe.indexes:
            (docs if which == "docs" else other).create_index(keys)
        got = probe.run(docs, other)
    except PyMongoError as error:
        return Finding(probe.area, probe.name, probe.expected, None, probe.reference,
                       error=f"{type(error).__name__}: {error}")
    finally:
        docs.drop()
        other.drop()
    return Finding(probe.area, probe.name, probe.expected, got, probe.reference)


def run_conformance(db: Database, probes: Sequence[Probe] = PROBES) -> list[Finding]:
    """Every probe's finding, in order (``[f for f in ... if f.deviates]``: deviations)."""
    return [run_probe(db, probe) for probe in probes]


def describe(finding: Finding) -> str:
    """One line: where, what, and MongoDB's answer next to the server's."""
    if finding.error:
        seen = f"the server failed: {finding.error}"
    else:
        seen = f"the server gives {finding.got!r}"
    return (f"[{finding.area}] {finding.name}: MongoDB gives {finding.expected!r}, {seen} "
            f"({finding.reference})")
