"""``boom-flow users add|list|remove`` against the real database, and ``boom-flow api``
refusing to start without a usable secret key (the server itself runs in tests/api)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pymongo.database import Database

from boom_flow.api.users import verify_password
from boom_flow.cli.main import cli


@pytest.mark.services
def test_users_add_list_remove(environment: dict[str, str], mongo_db: Database) -> None:
    env = {**environment, "BOOM_FLOW_API__PASSWORD_HASH_ROUNDS": "4"}
    runner = CliRunner()
    added = runner.invoke(cli, ["users", "add", "alice", "--password", "pw-alice",
                                "--email", "a@example.org", "--programid", "1",
                                "--programid", "2"], env=env)
    assert added.exit_code == 0, added.output
    assert "created user alice" in added.output
    stored = mongo_db.users.find_one({"username": "alice"})
    assert stored["permissions"] == {"ZTF": [1, 2]} and stored["is_admin"] is False
    assert verify_password("pw-alice", stored["password_hash"])
    assert "pw-alice" not in str(stored)

    prompted = runner.invoke(cli, ["users", "add", "root", "--admin"], env=env,
                             input="pw-root\npw-root\n")
    assert prompted.exit_code == 0, prompted.output
    assert "pw-root" not in prompted.output
    duplicate = runner.invoke(cli, ["users", "add", "alice", "--password", "x"], env=env)
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad = runner.invoke(cli, ["users", "add", "bob", "--password", "x", "--programid", "4"],
                        env=env)
    assert bad.exit_code == 2

    listed = runner.invoke(cli, ["users", "list", "--json"], env=env)
    users = {u["username"]: u for u in json.loads(listed.output)}
    assert set(users) == {"alice", "root"} and users["root"]["is_admin"] is True
    assert all("password_hash" not in u for u in users.values())
    table = runner.invoke(cli, ["users", "list"], env=env).output
    assert "alice\tuser\tZTF programids [1, 2]" in table

    removed = runner.invoke(cli, ["users", "remove", "alice"], env=env)
    assert removed.exit_code == 0 and mongo_db.users.find_one({"username": "alice"}) is None
    again = runner.invoke(cli, ["users", "remove", "alice"], env=env)
    assert again.exit_code == 1 and "no user 'alice'" in again.output


@pytest.mark.parametrize(("secret", "expected"), [
    (None, "api.secret_key is not set"), ("short", "shorter than 32 bytes")])
def test_api_refuses_to_start_without_a_usable_secret(secret: str | None,
                                                      expected: str) -> None:
    env = {"BOOM_FLOW_API__SECRET_KEY": secret}  # None: removed from the environment
    result = CliRunner().invoke(cli, ["api", "--port", "1"], env=env)
    assert result.exit_code == 1
    assert expected in result.output
