"""Users (admins only): ``POST /users``, ``GET /users``, ``DELETE /users/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from boom_flow.api.auth import AdminUser
from boom_flow.api.encoding import DocumentResponse, envelope
from boom_flow.api.errors import ApiError, bad_request, not_found
from boom_flow.api.rights import ZTF_PROGRAMIDS
from boom_flow.api.state import api_state
from boom_flow.api.users import UserExists

router = APIRouter(prefix="/users", tags=["users"])


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$")]
    password: Annotated[str, Field(min_length=1)]
    email: str | None = None
    permissions: dict[str, list[int]] = Field(default_factory=dict)
    is_admin: bool = False


@router.post("", summary="Create a user")
def create_user(request: Request, body: NewUser, _: AdminUser) -> DocumentResponse:
    ztf = body.permissions.get("ZTF", body.permissions.get("ztf", []))
    if not set(ztf) <= ZTF_PROGRAMIDS:
        raise bad_request("permissions.ZTF may only hold programids 1, 2 and 3")
    try:
        user = api_state(request).users.create(
            username=body.username, password=body.password, email=body.email,
            permissions=body.permissions, is_admin=body.is_admin)
    except UserExists as error:  # BOOM answers 409 here too
        raise ApiError(409, str(error)) from None
    except ValueError as error:
        raise bad_request(str(error)) from None
    return envelope(f"created user {body.username}", user)


@router.get("", summary="List users")
def list_users(request: Request, _: AdminUser) -> DocumentResponse:
    found = api_state(request).users.list()
    return envelope(f"{len(found)} users", found)


@router.delete("/{user_id}", summary="Delete a user")
def delete_user(request: Request, user_id: str, admin: AdminUser) -> DocumentResponse:
    if user_id == admin.id:
        raise bad_request("an administrator cannot delete their own account")
    if not api_state(request).users.delete(user_id):
        raise not_found(f"user {user_id!r} not found")
    return envelope(f"deleted user {user_id}", {"id": user_id})
