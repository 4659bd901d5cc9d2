"""Brute-force protection for ``POST /auth``: failed logins counted per username and
per client address in a sliding window; over the limit, 429 with ``Retry-After``.

The check comes before the password is verified, so a client that is refused costs
no bcrypt work. A success clears the username's count (its owner got in), never the
client's (one good account must not reset a guesser's budget for the others).
Counts live in the API process: each process of a multi-process deployment counts
on its own, which multiplies the budget by the number of processes, still far from
the thousands of guesses a second an unprotected route allows.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

#: Keys remembered at most; beyond, the stale ones are forgotten first.
MAX_KEYS = 100_000


class LoginThrottle:
    """Failures per key (``"user:<name>"``, ``"client:<address>"``) within ``window_s``."""

    def __init__(self, limits: dict[str, int], window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        #: The most failures per key kind in a window, e.g. ``{"user": 10, "client": 50}``.
        self.limits = limits
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until every key may try again, or None when none is over its limit."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self._limit(key):
                    wait = max(wait, times[0] + self.window_s - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, keys: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._forget_stale(now)
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _limit(self, key: str) -> int:
        return self.limits[key.split(":", 1)[0]]

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def _forget_stale(self, now: float) -> None:
        for key in [k for k, t in self._failures.items() if t[-1] <= now - self.window_s]:
            del self._failures[key]
