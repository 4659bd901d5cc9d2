"""Core types shared by sources, surveys, stages and storage (no I/O here)."""

from boom_flow.core.batch import AlertBatch, RawPacket, Rejection, table_from_records

__all__ = ["AlertBatch", "RawPacket", "Rejection", "table_from_records"]
