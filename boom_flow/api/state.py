"""What the routes share: settings, the database, the stores, the limits."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pymongo
import redis
from fastapi import Request
from pymongo.database import Database

from boom_flow.api.errors import ApiError
from boom_flow.api.throttle import LoginThrottle
from boom_flow.api.users import UserStore
from boom_flow.config import Settings


@dataclass
class ApiState:
    settings: Settings
    client: pymongo.MongoClient
    db: Database
    users: UserStore
    secret_key: str
    _valkey: redis.Redis | None = field(default=None, repr=False)
    _slots: threading.BoundedSemaphore | None = field(default=None, repr=False)
    _throttle: LoginThrottle | None = field(default=None, repr=False)

    @property
    def throttle(self) -> LoginThrottle:
        """Failed logins per username and per client (``POST /auth``)."""
        if self._throttle is None:
            self._throttle = LoginThrottle(
                {"user": self.api.login_failures_per_user,
                 "client": self.api.login_failures_per_client}, self.api.login_window_s)
        return self._throttle

    @property
    def slots(self) -> threading.BoundedSemaphore:
        """Database-bound requests in progress (``api.max_concurrent_queries``)."""
        if self._slots is None:
            self._slots = threading.BoundedSemaphore(self.api.max_concurrent_queries)
        return self._slots

    @property
    def api(self) -> Any:
        return self.settings.api

    @property
    def token_expiry(self) -> dt.timedelta:
        return dt.timedelta(days=self.api.token_expiry_days)

    @property
    def valkey(self) -> redis.Redis:
        """Valkey, connected on first use (only the filter routes need it)."""
        if self._valkey is None:
            self._valkey = redis.Redis.from_url(self.settings.services.valkey.connection_url)
        return self._valkey

    def close(self) -> None:
        if self._valkey is not None:
            self._valkey.close()
        self.client.close()


def api_state(request: Request) -> ApiState:
    return request.app.state.boom


def query_slot(request: Request) -> Iterator[None]:
    """A route dependency: hold one of the process's query slots for the request, or
    answer 429 at once when all are taken (api.md: overloaded, clients retry), rather
    than queueing work the server cannot start soon."""
    state = api_state(request)
    if not state.slots.acquire(blocking=False):
        raise ApiError(429, f"the server is busy ({state.api.max_concurrent_queries} queries "
                            "in progress); retry shortly", {"Retry-After": "1"})
    try:
        yield
    finally:
        state.slots.release()
