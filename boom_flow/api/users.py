"""The ``users`` collection: accounts with bcrypt-hashed passwords and data rights.

A document: ``{_id (uuid string), username, email, password_hash, permissions:
{"ZTF": [1, 2]}, is_admin, created_at}``. The hash never leaves this module
(``public`` strips it); passwords are never logged.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import bcrypt
from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

COLLECTION = "users"
#: bcrypt uses at most 72 bytes of a password; longer ones are refused, not truncated.
MAX_PASSWORD_BYTES = 72


class UserExists(ValueError):
    """A user with this username already exists."""


def hash_password(password: str, rounds: int = 12) -> str:
    data = _password_bytes(password)
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(_password_bytes(password), hashed.encode("ascii"))
    except ValueError:
        return False


def _password_bytes(password: str) -> bytes:
    data = password.encode("utf-8")
    if not data:
        raise ValueError("the password is empty")
    if len(data) > MAX_PASSWORD_BYTES:
        raise ValueError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")
    return data


def public(user: Mapping[str, Any]) -> dict[str, Any]:
    """What may be shown of a user: everything but the hash, ``_id`` as ``id``."""
    shown = {key: value for key, value in user.items() if key not in ("_id", "password_hash")}
    return {"id": user["_id"], **shown}


class UserStore:
    """Accounts, in the archive database."""

    def __init__(self, db: Database, rounds: int = 12) -> None:
        self._decoy: str | None = None
        self.collection = db[COLLECTION]
        self.rounds = rounds

    def ensure_indexes(self) -> None:
        try:
            self.collection.create_index([("username", ASCENDING)], unique=True)
        except OperationFailure as error:  # an identical index created by another start
            if "username" not in str(error):
                raise

    def create(self, *, username: str, password: str, email: str | None = None,
               permissions: Mapping[str, list[int]] | None = None,
               is_admin: bool = False) -> dict[str, Any]:
        user = {
            "_id": str(uuid.uuid4()), "username": username, "email": email,
            "password_hash": hash_password(password, self.rounds),
            "permissions": {k.upper(): sorted(set(v)) for k, v in (permissions or {}).items()},
            "is_admin": is_admin, "created_at": dt.datetime.now(dt.UTC),
        }
        try:
            self.collection.insert_one(user)
        except DuplicateKeyError:
            raise UserExists(f"user {username!r} already exists") from None
        return public(user)

    def by_username(self, username: str) -> dict[str, Any] | None:
        return self.collection.find_one({"username": username})

    def by_id(self, user_id: str) -> dict[str, Any] | None:
        return self.collection.find_one({"_id": user_id})

    def authenticate(self, username: str, password: str) -> dict[str, Any] | None:
        """The user, when ``password`` is theirs. An unknown username costs the same
        bcrypt check as a known one (against a hash of nothing), so the time of the
        answer does not tell which usernames exist."""
        user = self.by_username(username)
        hashed = user["password_hash"] if user is not None else self._decoy_hash()
        if not verify_password(password, hashed) or user is None:
            return None
        return user

    def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = hash_password(secrets.token_urlsafe(16), self.rounds)
        return self._decoy

    def list(self) -> list[dict[str, Any]]:
        return [public(user) for user in self.collection.find().sort("username", ASCENDING)]

    def delete(self, user_id: str) -> bool:
        return self.collection.delete_one({"_id": user_id}).deleted_count == 1

    def delete_username(self, username: str) -> bool:
        return self.collection.delete_one({"username": username}).deleted_count == 1

    def ensure_admin(self, username: str, password: str) -> dict[str, Any]:
        """The configured admin: created if missing; its password and admin flag are
        reset to the configuration's when they differ (the configuration is the truth)."""
        user = self.by_username(username)
        if user is None:
            try:
                return self.create(username=username, password=password,
                                   permissions={"ZTF": [1, 2, 3]}, is_admin=True)
            except UserExists:  # another API process created it at the same moment
                user = self.by_username(username)
                assert user is not None
        changes: dict[str, Any] = {}
        if not verify_password(password, user["password_hash"]):
            changes["password_hash"] = hash_password(password, self.rounds)
        if not user.get("is_admin"):
            changes["is_admin"] = True
        if changes:
            self.collection.update_one({"_id": user["_id"]}, {"$set": changes})
        return public({**user, **changes})
