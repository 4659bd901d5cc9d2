"""The MongoDB archive: alerts, cutouts, per-object light curves and rejected packets.

``ensure_indexes`` once at start-up, then ``write_batch`` for every decoded and
enriched batch (one read and one bulk write per collection, idempotent).
"""

from boom_flow.storage.archive import (
    WriteSummary,
    collection_names,
    count_rejected,
    ensure_indexes,
    rejection_id,
    write_batch,
)
from boom_flow.storage.history import AuxConflictError

__all__ = [
    "AuxConflictError",
    "WriteSummary",
    "collection_names",
    "count_rejected",
    "ensure_indexes",
    "rejection_id",
    "write_batch",
]
