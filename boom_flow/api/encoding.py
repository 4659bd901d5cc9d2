"""JSON encoding of archive documents, as api.md states it.

BSON holds values JSON lacks: 64-bit integers (exact in Python's ``json``, which
writes integers digit by digit; they are never routed through floats here),
non-finite floats (written as ``null``: ``NaN`` is not JSON, and clients in other
languages reject it), datetimes (ISO-8601), ObjectIds (their hex string) and binary
(base64, which is how cutouts travel).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bson import Binary, Decimal128, ObjectId, Regex, Timestamp
from starlette.responses import JSONResponse


def jsonable(value: Any) -> Any:
    """``value`` with every BSON-only type replaced by its JSON form (recursive)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):  # int, Int64 and bool (handled above)
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, Binary, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # pymongo returns naive UTC datetimes by default
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (ObjectId, uuid.UUID)):
        return str(value)
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, Timestamp):
        return value.as_datetime().isoformat()
    if isinstance(value, Regex):
        return value.pattern
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    return str(value)


def dumps(value: Any) -> bytes:
    """The compact JSON bytes of ``value`` (``jsonable`` applied first)."""
    return json.dumps(jsonable(value), allow_nan=False, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


class DocumentResponse(JSONResponse):
    """A JSON response that accepts archive documents as they come from pymongo."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def envelope(message: str, data: Any, status_code: int = 200) -> DocumentResponse:
    """BOOM's success envelope ``{"message", "data"}``."""
    return DocumentResponse({"message": message, "data": data}, status_code=status_code)


__all__ = ["DocumentResponse", "dumps", "envelope", "jsonable"]
