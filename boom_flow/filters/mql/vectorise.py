"""A ``$match`` as a column mask: the cheap, vectorised part of a filter's first stage.

``column_mask(query, columns, size)`` gives a boolean array over a batch whose ``False``
entries are documents that certainly fail ``query`` (a necessary condition, never a
sufficient one): the per-document evaluation then runs only where the mask is True, and
its answer is final. ``columns`` maps dotted paths (``"candidate.drb"``) to one value
per document, exactly the value the document holds there (None/NaN where it is null or
absent).

Only what is exact on columns is vectorised: ``$gt/$gte/$lt/$lte`` against a number,
``$eq``/implicit equality/``$in`` against numbers, booleans and strings, under ``$and``
and ``$or``. Null, missing and NaN never satisfy these, so None/NaN cells are False,
as in MongoDB; a number never equals a boolean (type brackets). Anything else
(``$expr``, ``$ne``, ``$exists``, null constants, arrays...) counts as "maybe": all True.
Object columns (mixed types, arrays) are tested cell by cell with the query's own test.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from boom_flow.filters.mql.query import any_of, equality, expanded, ordering

Mask = np.ndarray
_NUMERIC = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
_EXACT_FLOAT = 2.0**53


def column_mask(query: Any, columns: Mapping[str, Any], size: int) -> Mask:
    """Necessary-condition mask of ``query`` over ``size`` documents (see module doc)."""
    mask = _query_mask(query, columns, size)
    return np.ones(size, dtype=bool) if mask is None else mask


def _query_mask(query: Any, columns: Mapping[str, Any], size: int) -> Mask | None:
    if not isinstance(query, dict):
        return None
    masks = []
    for key, value in query.items():
        if key == "$and" and isinstance(value, list):
            found = [_query_mask(clause, columns, size) for clause in value]
            masks.extend(m for m in found if m is not None)
        elif key == "$or" and isinstance(value, list) and value:
            branches = [_query_mask(clause, columns, size) for clause in value]
            if all(branch is not None for branch in branches):
                masks.append(np.logical_or.reduce(branches))
        elif not key.startswith("$") and key in columns:
            mask = _field_mask(value, _cells(columns[key], size))
            if mask is not None:
                masks.append(mask)
    return np.logical_and.reduce(masks) if masks else None


def _cells(column: Any, size: int) -> np.ndarray:
    if isinstance(column, pd.Series):
        column = (column.to_numpy(dtype=object, na_value=None)
                  if isinstance(column.dtype, pd.api.extensions.ExtensionDtype)
                  else column.to_numpy())
    cells = np.asarray(column)
    if cells.shape != (size,):
        raise ValueError(f"a column has shape {cells.shape}, expected ({size},)")
    return cells


def _plain_number(value: Any) -> bool:
    return type(value) in (int, float) and not (type(value) is float and math.isnan(value))


def _field_mask(condition: Any, cells: np.ndarray) -> Mask | None:
    if isinstance(condition, dict) and condition and next(iter(condition)).startswith("$"):
        masks = [_operator_mask(op, argument, cells) for op, argument in condition.items()]
        found = [m for m in masks if m is not None]
        return np.logical_and.reduce(found) if found else None
    return _equality_mask(condition, cells)


def _operator_mask(op: str, argument: Any, cells: np.ndarray) -> Mask | None:
    if op in _NUMERIC and _plain_number(argument):
        return _compare(cells, _NUMERIC[op], argument, lambda: any_of(expanded(ordering(op,
                                                                                  argument))))
    if op == "$eq":
        return _equality_mask(argument, cells)
    if op == "$in" and isinstance(argument, list) and argument:
        masks = [_equality_mask(item, cells) for item in argument]
        if all(m is not None for m in masks):
            return np.logical_or.reduce(masks)
    return None


def _equality_mask(value: Any, cells: np.ndarray) -> Mask | None:
    kind = cells.dtype.kind
    if _plain_number(value):
        return _compare(cells, operator.eq, value, lambda: any_of(expanded(equality(value))))
    if type(value) is bool:
        if kind == "b":
            return cells == value
        if kind in "iuf":
            return np.zeros(len(cells), dtype=bool)
        return _by_cell(cells, any_of(expanded(equality(value))))
    if type(value) is str:
        if kind in "biuf":
            return np.zeros(len(cells), dtype=bool)
        return _by_cell(cells, any_of(expanded(equality(value))))
    return None


def _compare(cells: np.ndarray, native: Callable[[Any, Any], Any], constant: Any,
             test: Callable[[], Callable[[Any], bool]]) -> Mask:
    kind = cells.dtype.kind
    if kind == "f":
        with np.errstate(invalid="ignore"):
            return np.asarray(native(cells, constant), dtype=bool)  # NaN compares False
    if kind in "iu":
        if len(cells) and max(abs(int(cells.max())), abs(int(cells.min()))) >= _EXACT_FLOAT:
            return _by_cell(cells, test())
        return np.asarray(native(cells, constant), dtype=bool)
    if kind == "b":
        return np.zeros(len(cells), dtype=bool)  # a boolean is never a number
    return _by_cell(cells, test())


def _by_cell(cells: np.ndarray, test: Callable[[Any], bool]) -> Mask:
    """The query's own test on each cell (None is null: the same answer as missing for
    every test vectorised here)."""
    return np.fromiter((test((_python(cell),)) for cell in cells), dtype=bool,
                       count=len(cells))


def _python(cell: Any) -> Any:
    if isinstance(cell, np.generic):
        return cell.item()
    return cell
