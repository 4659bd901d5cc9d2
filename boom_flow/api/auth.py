"""Tokens and the request's user.

``POST /auth`` trades a username and password for a JWT (HS256, signed with
``api.secret_key``, expiring after ``api.token_expiry_days``); every other route
but the health check and the docs reads ``Authorization: Bearer <token>``. The user
is re-read on every request, so a deleted user or changed permissions take effect
at once, not when the token expires.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from boom_flow.api.errors import forbidden, unauthorized
from boom_flow.api.rights import Rights
from boom_flow.api.state import ApiState, api_state

ALGORITHM = "HS256"
_bearer = HTTPBearer(auto_error=False, description="A token from POST /auth")


def issue_token(user: dict[str, Any], secret: str, expiry: dt.timedelta) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": user["_id"], "username": user["username"], "iat": now, "exp": now + expiry}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def token_subject(token: str, secret: str) -> str:
    """The user id a valid token names; 401 otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError:
        raise unauthorized("the token has expired; get a new one from POST /auth") from None
    except jwt.InvalidTokenError:
        raise unauthorized("invalid token") from None
    subject = claims.get("sub")
    if not isinstance(subject, str):
        raise unauthorized("invalid token")
    return subject


class User:
    """The authenticated user of a request."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.id: str = document["_id"]
        self.username: str = document["username"]
        self.is_admin = bool(document.get("is_admin"))
        self.permissions: dict[str, list[int]] = document.get("permissions") or {}
        self.rights = Rights.of_user(document)


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("missing token: send Authorization: Bearer <token from POST /auth>")
    state: ApiState = api_state(request)
    user_id = token_subject(credentials.credentials, state.secret_key)
    document = state.users.by_id(user_id)
    if document is None:
        raise unauthorized("the token's user no longer exists")
    return User(document)


def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise forbidden("this route is for administrators")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
