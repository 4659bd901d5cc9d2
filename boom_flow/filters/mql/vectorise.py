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
(``$ne``, ``$exists``, null constants, arrays...) counts as "maybe": all True.
Object columns (mixed types, arrays) are tested cell by cell with the query's own test.

In ``$expr``, comparisons of ``$abs``/``$add``/``$subtract``/``$multiply``/``$divide``
over numeric columns and numbers are computed on the columns (float64 is what MongoDB
computes for doubles; integers stay below 2**53). A row where an input is null or
missing (null sorts below numbers there: ``{$lt: [null, 7]}`` is true), where the
result is NaN, or a divisor is 0 (an error in MongoDB) is a "maybe" for that row.
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
        elif key == "$expr":
            mask = _expression_mask(value, columns, size)
            if mask is not None:
                masks.append(mask)
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


_EXPRESSION_ORDER = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt,
                     "$gte": operator.ge, "$eq": operator.eq, "$ne": operator.ne}
_EXPRESSION_ARITHMETIC = {"$add": operator.add, "$subtract": operator.sub,
                          "$multiply": operator.mul, "$divide": operator.truediv}
Known = tuple[np.ndarray, np.ndarray]  # float64 values, and where they are certain


def _expression_mask(spec: Any, columns: Mapping[str, Any], size: int) -> Mask | None:
    """Necessary-condition mask of an ``$expr`` (None: nothing vectorisable)."""
    if not isinstance(spec, dict) or len(spec) != 1:
        return None
    (op, argument), = spec.items()
    if op in ("$and", "$or") and isinstance(argument, list) and argument:
        masks = [_expression_mask(item, columns, size) for item in argument]
        if op == "$and":
            found = [m for m in masks if m is not None]
            return np.logical_and.reduce(found) if found else None
        return np.logical_or.reduce(masks) if all(m is not None for m in masks) else None
    if op not in _EXPRESSION_ORDER or not isinstance(argument, list) or len(argument) != 2:
        return None
    left, right = (_numbers(item, columns, size) for item in argument)
    if left is None or right is None:
        return None
    known = left[1] & right[1]
    with np.errstate(invalid="ignore"):
        holds = _EXPRESSION_ORDER[op](left[0], right[0])
    return np.where(known, holds, True)


def _numbers(spec: Any, columns: Mapping[str, Any], size: int) -> Known | None:
    """Values of a numeric expression over the batch, or None if not vectorisable."""
    if _plain_number(spec):
        return np.full(size, float(spec)), np.ones(size, dtype=bool)
    if isinstance(spec, str) and spec.startswith("$") and not spec.startswith("$$"):
        column = columns.get(spec[1:])
        if column is None:
            return None
        cells = _cells(column, size)
        if cells.dtype.kind not in "fiu" or (
                cells.dtype.kind in "iu" and len(cells)
                and max(abs(int(cells.max())), abs(int(cells.min()))) >= _EXACT_FLOAT):
            return None
        values = cells.astype(np.float64)
        return values, ~np.isnan(values)
    if not isinstance(spec, dict) or len(spec) != 1:
        return None
    (op, argument), = spec.items()
    if op == "$abs":
        inner = _numbers(argument[0] if isinstance(argument, list) and len(argument) == 1
                         else argument, columns, size)
        return None if inner is None else (np.abs(inner[0]), inner[1])
    if op not in _EXPRESSION_ARITHMETIC or not isinstance(argument, list) or len(argument) != 2:
        return None
    left, right = (_numbers(item, columns, size) for item in argument)
    if left is None or right is None:
        return None
    known = left[1] & right[1]
    if op == "$divide":
        known &= right[0] != 0
    with np.errstate(all="ignore"):
        values = _EXPRESSION_ARITHMETIC[op](left[0], right[0])
    return values, known & ~np.isnan(values)
