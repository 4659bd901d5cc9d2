"""Core types shared by sources, surveys, stages and storage (no I/O here)."""

from boom_flow.core.batch import (
    SUPERSEDED,
    AlertBatch,
    KnownHistory,
    RawBatch,
    RawPacket,
    Rejection,
    records_from_table,
    table_from_records,
)

__all__ = [
    "SUPERSEDED",
    "AlertBatch",
    "KnownHistory",
    "RawBatch",
    "RawPacket",
    "Rejection",
    "records_from_table",
    "table_from_records",
]
