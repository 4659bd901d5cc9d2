"""The API's request metrics: a pure ASGI middleware and the ``/metrics`` response.

Requests are labelled by their route *template* (``/surveys/{survey}/objects/{id}``),
never the raw path, so that object ids do not make a series each.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from boom_flow.metrics import names
from boom_flow.metrics.pipeline import new_registry

Scope = dict[str, Any]
#: Paths that match no route (404s from scanners) share one label.
UNMATCHED = "unmatched"


class ApiMetrics:
    """The API's counters; ``middleware`` wraps the ASGI app to feed them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()
        self.requests = Counter(names.API_REQUESTS.name.removesuffix("_total"),
                                names.API_REQUESTS.help, names.API_REQUESTS.labels,
                                registry=self.registry)
        self.latency = Histogram(names.API_LATENCY.name, names.API_LATENCY.help,
                                 names.API_LATENCY.labels, buckets=names.API_BUCKETS,
                                 registry=self.registry)

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.latency.labels(method=method, route=route).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template and status."""

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler is a 500 to the client

        async def send_and_watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.record(scope["method"], template, status,
                                time.perf_counter() - started)
