"""Core types shared by sources, surveys, stages and storage (no I/O here)."""

from boom_flow.core.batch import (
    CUTOUTS,
    STAMPS_VIEW,
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
    "CUTOUTS",
    "STAMPS_VIEW",
    "SUPERSEDED",
    "AlertBatch",
    "KnownHistory",
    "RawBatch",
    "RawPacket",
    "Rejection",
    "records_from_table",
    "table_from_records",
]
