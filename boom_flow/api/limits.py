"""The request-body limit: a body over ``api.max_body_bytes`` is refused with 413
before it is read (from its ``Content-Length``), or as soon as the bytes received
pass the limit (a chunked body names no length). Without it, a 200 MB body was read
whole and only then refused."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boom_flow.api.errors import error_response


class BodyTooLarge(HTTPException):
    """Raised while reading a body past the limit (an HTTPException, so that the routes'
    body parsing lets it through and the handlers answer 413)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body exceeds {max_bytes} bytes "
                              "(api.max_body_bytes)")


class BodyLimit:
    """ASGI middleware enforcing the body limit on every HTTP request."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            error = BodyTooLarge(self.max_bytes)
            response = error_response(413, str(error.detail), {"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
