"""The column mask of a ``$match`` never drops a document the query keeps, and is exact
for comparisons on numeric columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from boom_flow.filters.mql import compile_stages
from boom_flow.filters.mql.paths import query_values
from boom_flow.filters.mql.values import MISSING
from boom_flow.filters.mql.vectorise import column_mask
from tests.filters.mql.corpus import CORPUS, NUMBERS
from tests.filters.mql.test_query import QUERIES


def _column(docs: list[dict[str, Any]], path: str) -> list[Any]:
    """One cell per document: its value at ``path`` (None when null or absent)."""
    cells = []
    for doc in docs:
        found = query_values(doc, tuple(path.split(".")))
        value = found[0] if len(found) == 1 else found  # a list when the path fans out
        cells.append(None if value is MISSING else value)
    return cells


@pytest.mark.parametrize("query", QUERIES, ids=[repr(q) for q in QUERIES])
def test_mask_never_drops_a_match(query: dict[str, Any]) -> None:
    columns = {"a": np.array(_column(CORPUS, "a"), dtype=object),
               "b": np.array(_column(CORPUS, "b"), dtype=object),
               "c": pd.Series(_column(CORPUS, "c"))}
    mask = column_mask(query, columns, len(CORPUS))
    kept = compile_stages([{"$match": query}]).run_each(CORPUS)
    for doc, maybe, outcome in zip(CORPUS, mask, kept, strict=True):
        assert maybe or outcome is None, (query, doc)


NUMERIC = [
    {"x": {"$gt": 1}}, {"x": {"$lte": 2.675}}, {"x": 7}, {"x": {"$in": [7, -7.0, 0]}},
    {"x": {"$gt": -5, "$lt": 5}}, {"$or": [{"x": {"$lt": 0}}, {"y": {"$gte": 3}}]},
    {"$and": [{"x": {"$gt": 0}}, {"y": 2}]}, {"x": True},
]


@pytest.mark.parametrize("query", NUMERIC, ids=[repr(q) for q in NUMERIC])
def test_mask_is_exact_on_numeric_columns(query: dict[str, Any]) -> None:
    docs = [d for d in NUMBERS if not isinstance(d.get("x"), (dict,)) and d["_id"] != 12]
    columns = {name: np.array([np.nan if d.get(name) is None else float(d[name])
                               for d in docs]) for name in ("x", "y")}
    mask = column_mask(query, columns, len(docs))
    kept = [o is not None for o in compile_stages([{"$match": query}]).run_each(docs)]
    assert mask.tolist() == kept
    assert 0 < sum(kept) < len(docs) or query == {"x": True}


def test_unvectorisable_conditions_keep_everything() -> None:
    query = {"$expr": {"$gt": ["$x", "$$ROOT.y"]}, "x": {"$exists": True}, "y": None}
    columns = {"x": np.arange(4.0), "y": np.arange(4.0)}
    assert column_mask(query, columns, 4).all()
    assert column_mask({"z": {"$gt": 1}}, columns, 4).all()  # no column: unknown


def test_run_each_skips_masked_documents() -> None:
    pipeline = compile_stages([{"$match": {"x": {"$gt": 1}}}, {"$project": {"x": 1}}])
    docs = [{"_id": i, "x": float(i)} for i in range(4)]
    mask = pipeline.prefilter({"x": np.arange(4.0)}, 4)
    assert mask.tolist() == [False, False, True, True]
    assert pipeline.run_each(docs, mask) == [None, None, {"_id": 2, "x": 2.0},
                                             {"_id": 3, "x": 3.0}]


EXPRESSIONS = [
    {"$lt": [{"$abs": {"$subtract": ["$x", "$y"]}}, 1.5]}, {"$gt": ["$x", "$y"]},
    {"$lte": [{"$divide": ["$x", "$y"]}, 0.5]}, {"$eq": [{"$add": ["$x", 1]}, "$y"]},
    {"$and": [{"$gt": ["$x", 0]}, {"$lt": [{"$multiply": ["$x", "$y"]}, 4]}]},
    {"$or": [{"$lt": ["$x", -1]}, {"$gte": ["$y", 2]}]}, {"$ne": ["$x", 2]},
    {"$lt": ["$x", 99]}, {"$gt": [{"$abs": "$y"}, 0]},
]


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=[repr(e) for e in EXPRESSIONS])
def test_expression_mask_never_drops_a_match(expression: dict[str, Any]) -> None:
    """Null, missing, NaN, zero divisors and ints among the rows: a False in the mask is
    always a document the query drops, and the mask does drop some."""
    values = [None, float("nan"), 0, 0.0, -2, 1, 1.5, 2, 3.25, -0.5, 2**40]
    docs = []
    for i, x in enumerate(values):
        for j, y in enumerate(values):
            doc: dict[str, Any] = {"_id": i * 100 + j, "x": x, "y": y}
            if i == 0:
                del doc["x"]  # missing, not null
            docs.append(doc)
    columns = {name: pd.Series([d.get(name) for d in docs]) for name in ("x", "y")}
    query = {"$expr": expression}
    mask = column_mask(query, columns, len(docs))
    kept = compile_stages([{"$match": query}]).run_each(docs)
    for doc, maybe, outcome in zip(docs, mask, kept, strict=True):
        assert maybe or outcome is None, doc
    assert not mask.all()
