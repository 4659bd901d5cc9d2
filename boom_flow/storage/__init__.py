"""The MongoDB archive: alerts, cutouts, per-object light curves and rejected packets.

``ensure_indexes`` once at start-up, then ``write_batch`` for every decoded and
enriched batch (one read and one bulk write per collection, idempotent).

The names below are imported on first use: ``storage.documents`` and
``storage.points`` are pure (the filter stage uses them), and importing them must not
pull in pymongo through this package.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "AuxConflictError": "boom_flow.storage.history",
    "WriteSummary": "boom_flow.storage.archive",
    "collection_names": "boom_flow.storage.archive",
    "count_rejected": "boom_flow.storage.archive",
    "ensure_indexes": "boom_flow.storage.archive",
    "rejection_id": "boom_flow.storage.archive",
    "write_batch": "boom_flow.storage.archive",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
