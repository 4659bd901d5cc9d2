"""``POST /auth``: a token for a username and password (BOOM's shape, no envelope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from boom_flow.api.auth import issue_token
from boom_flow.api.encoding import DocumentResponse
from boom_flow.api.errors import unauthorized
from boom_flow.api.state import api_state

router = APIRouter(tags=["auth"])


@router.post("/auth", summary="Get a token (form fields username, password)")
def login(request: Request, username: Annotated[str, Form()],
          password: Annotated[str, Form()]) -> DocumentResponse:
    state = api_state(request)
    user = state.users.authenticate(username, password)
    if user is None:
        raise unauthorized("wrong username or password")
    expiry = state.token_expiry
    token = issue_token(user, state.secret_key, expiry)
    return DocumentResponse({"access_token": token, "token_type": "Bearer",
                             "expires_in": int(expiry.total_seconds())})
