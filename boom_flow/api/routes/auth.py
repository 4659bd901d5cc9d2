"""``POST /auth``: a token for a username and password (BOOM's shape, no envelope).

The credentials come form-encoded (OAuth2's password flow, what api.md specifies and
what the docs page sends) or as a JSON object (what earlier BOOM releases read).
Failed attempts are limited per username and per client address (``api.throttle``):
over the limit, 429 with ``Retry-After``, before any password is checked.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from boom_flow.api.auth import issue_token
from boom_flow.api.encoding import DocumentResponse
from boom_flow.api.errors import ApiError, unauthorized
from boom_flow.api.state import api_state

router = APIRouter(tags=["auth"])

_CREDENTIALS = {"type": "object", "required": ["username", "password"],
                "properties": {"username": {"type": "string"},
                               "password": {"type": "string", "format": "password"}}}
_BODY = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": _CREDENTIALS},
    "application/json": {"schema": _CREDENTIALS}}}}


async def _credentials(request: Request) -> tuple[str, str]:
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            body: Any = json.loads(await request.body() or b"null")
        else:
            body = dict(await request.form())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "malformed request: expected username and password") from None
    if not isinstance(body, dict):
        body = {}
    missing = [k for k in ("username", "password") if not isinstance(body.get(k), str)]
    if missing:
        raise ApiError(422, f"malformed request: missing {' and '.join(missing)}")
    return body["username"], body["password"]


@router.post("/auth", summary="Get a token (username, password)", openapi_extra=_BODY)
async def login(request: Request) -> DocumentResponse:
    username, password = await _credentials(request)
    state = api_state(request)
    user_key = f"user:{username}"
    keys = (user_key, f"client:{request.client.host if request.client else '?'}")
    wait = state.throttle.retry_after(keys)
    if wait is not None:
        raise ApiError(429, f"too many failed logins; retry in {wait} s",
                       {"Retry-After": str(wait)})
    # bcrypt is deliberately slow: check the password off the event loop.
    user = await run_in_threadpool(state.users.authenticate, username, password)
    if user is None:
        state.throttle.failed(keys)
        raise unauthorized("wrong username or password")
    state.throttle.succeeded(user_key)
    expiry = state.token_expiry
    token = issue_token(user, state.secret_key, expiry)
    return DocumentResponse({"access_token": token, "token_type": "Bearer",
                             "expires_in": int(expiry.total_seconds())})
