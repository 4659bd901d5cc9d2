"""Text bounded for logs and error reports."""

from __future__ import annotations

#: The most characters of one error text kept for a log line or an outcome.
MAX_ERROR_CHARS = 4000


def clip(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut in the middle past ``limit`` characters: an error that quotes a
    document (a bulk-write error, a decode error quoting a packet) must not carry
    megabytes of it into a log, yet its start and its end say what happened.

    >>> clip("a" * 10 + "b" * 10, 12)
    'aaaaaa…[8 characters cut]…bbbbbb'
    """
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}…[{len(text) - 2 * half} characters cut]…{text[-half:]}"
