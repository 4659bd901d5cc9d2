"""``$match`` parity with the real server over a corpus of awkward documents."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from bson import Int64

from tests.filters.mql.conftest import Parity
from tests.filters.mql.corpus import CORPUS, OID

QUERIES: list[dict[str, Any]] = [
    # implicit equality, null and missing
    {"a": 1}, {"a": 2.5}, {"a": 7}, {"a": Int64(7)}, {"a": 1.0}, {"a": True}, {"c": 1},
    {"c": True}, {"a": None}, {"a": {"$eq": None}}, {"a": {"$ne": None}},
    {"a": {"$exists": True}}, {"a": {"$exists": False}}, {"a": "abc"}, {"a": OID},
    # arrays: element matching, whole-array equality, nested arrays
    {"a": [1, 2, 3]}, {"a": [1, 2]}, {"a": []}, {"a": 3}, {"a": [3, 1, 2]},
    {"a": {"$eq": [1, 2, 3]}}, {"b": "x"}, {"b": ["x", "z"]},
    # documents: field order matters
    {"a": {"b": 1, "c": 2}}, {"a": {"c": 2, "b": 1}},
    # dotted paths through documents and arrays, positions
    {"a.b": None}, {"a.b": {"$exists": True}}, {"a.b": {"$exists": False}}, {"a.b": 1},
    {"a.b": 3}, {"a.b": 2}, {"a.b": {"$gt": 1}}, {"a.b": {"$ne": None}}, {"a.0": 1},
    {"a.1": {"$exists": True}}, {"a.0.b": 1}, {"a.b.c": 5}, {"a.b.c": {"$gt": 5}},
    {"a.b.c": 6}, {"a.3.b": 1}, {"b.k": 1}, {"b.1.v": "one"},
    # comparison with type bracketing, NaN, infinities, other types
    {"a": {"$gt": 1}}, {"a": {"$gte": 1}}, {"a": {"$lt": 2}}, {"a": {"$lte": 2.5}},
    {"a": {"$gt": "1"}}, {"a": {"$lt": "z"}}, {"a": {"$gte": None}}, {"a": {"$lt": None}},
    {"a": {"$gt": None}}, {"a": {"$gt": 0, "$lt": 3}}, {"a": {"$gt": float("nan")}},
    {"a": {"$gte": float("nan")}}, {"a": float("nan")}, {"a": {"$lt": float("inf")}},
    {"a": {"$gte": float("inf")}}, {"a": {"$gt": [1]}}, {"a": {"$gte": {}}},
    {"a": {"$gt": dt.datetime(2023, 1, 1)}}, {"a": {"$lt": 3.0}}, {"a": {"$gt": -10}},
    {"a": {"$gt": Int64(5)}}, {"a": {"$gt": False}},
    # sets
    {"a": {"$in": [1, "x", None]}}, {"a": {"$in": []}}, {"a": {"$nin": [1, None]}},
    {"a": {"$ne": 1}}, {"b": {"$in": ["x", "z"]}}, {"a": {"$in": [[1, 2], 5]}},
    {"b": {"$all": ["x", "z"]}}, {"a": {"$all": [1, 2]}}, {"a": {"$all": []}},
    {"a": {"$all": [[1, 2]]}},
    # types and sizes
    {"a": {"$type": "number"}}, {"a": {"$type": "array"}}, {"a": {"$type": "null"}},
    {"a": {"$type": ["string", "bool"]}}, {"a": {"$type": "long"}}, {"a": {"$type": "int"}},
    {"a": {"$type": "double"}}, {"a": {"$type": 16}}, {"a": {"$type": "object"}},
    {"a": {"$type": "decimal"}}, {"a": {"$type": "date"}}, {"a": {"$type": "objectId"}},
    {"a": {"$size": 3}}, {"a": {"$size": 0}}, {"a": {"$size": 2}},
    # elemMatch, not, regex, mod
    {"a": {"$elemMatch": {"$gt": 1, "$lt": 3}}}, {"a": {"$elemMatch": {"b": 1}}},
    {"a": {"$elemMatch": {"b": {"$gte": 3}}}}, {"a": {"$elemMatch": {"$eq": None}}},
    {"a": {"$all": [{"$elemMatch": {"b": 1}}]}},
    {"a": {"$not": {"$gt": 1}}}, {"a": {"$not": {"$type": "number"}}},
    {"a": {"$not": {"$gt": 0, "$lt": 3}}}, {"a.b": {"$not": {"$eq": None}}},
    {"a": {"$regex": "^a"}}, {"a": {"$regex": "B", "$options": "i"}}, {"b": {"$regex": "z"}},
    {"a": {"$mod": [2, 0]}}, {"a": {"$mod": [2, 1]}}, {"a": {"$mod": [2, -1]}},
    # logic and $expr
    {"$and": [{"a": {"$gt": 0}}, {"a": {"$lt": 3}}]}, {"$or": [{"a": 1}, {"b": "x"}]},
    {"$nor": [{"a": 1}, {"a": None}]}, {"$or": [{"a.b": 1}, {"$expr": {"$eq": ["$a", 0]}}]},
    {"$expr": {"$gt": ["$a", 1]}}, {"$expr": {"$eq": ["$a", None]}}, {"$expr": "$c"},
    {"$expr": {"$lt": ["$a", 5]}}, {"$expr": "$a"},
    {"$expr": {"$eq": ["$a", "$a"]}}, {"$expr": {"$gt": ["$a", "$b"]}},
    {"$expr": {"$in": ["x", {"$ifNull": ["$b", []]}]}},
]


@pytest.mark.parametrize("query", QUERIES, ids=[repr(q) for q in QUERIES])
def test_match_equals_the_server(parity: Parity, query: dict[str, Any]) -> None:
    parity.check(CORPUS, [{"$match": query}])


def test_the_corpus_discriminates(parity: Parity) -> None:
    """The corpus is not degenerate: queries select different, non-trivial sets."""
    kept = {repr(q): len(parity.check(CORPUS, [{"$match": q}])) for q in QUERIES[:30]}
    assert len(set(kept.values())) > 5
    assert 0 < kept[repr({"a": None})] < len(CORPUS)
