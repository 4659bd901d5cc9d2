"""``boom-flow api`` (serve the HTTP API) and ``boom-flow users`` (accounts)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from boom_flow.cli.context import Context, pass_context
from boom_flow.config import CONFIG_PATH_VARIABLE
from boom_flow.services.checks import mongo_client

if TYPE_CHECKING:
    from boom_flow.api.users import UserStore


@click.command("api")
@click.option("--host", default=None, help="Address to listen on [default: api.host].")
@click.option("--port", type=int, default=None, help="Port to listen on [default: api.port].")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Server processes (each serves requests from a thread pool).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@pass_context
def api(ctx: Context, host: str | None, port: int | None, workers: int, log_level: str) -> None:
    """Serve the HTTP API (BOOM-compatible routes; docs at /docs)."""
    import uvicorn

    from boom_flow.api.app import ApiConfigError, create_app

    settings = ctx.settings
    try:
        app = create_app(settings)  # checks the configuration before anything listens
    except ApiConfigError as error:
        raise click.ClickException(str(error)) from None
    address = {"host": host or settings.api.host, "port": port or settings.api.port,
               "log_level": log_level}
    if workers == 1:
        uvicorn.run(app, **address)
        return
    # Several processes: each builds its app from the same configuration.
    app.state.boom.close()
    if ctx.config_path is not None:
        os.environ[CONFIG_PATH_VARIABLE] = str(ctx.config_path)
    uvicorn.run("boom_flow.api.app:create_app_from_environment", factory=True,
                workers=workers, **address)


def _users(ctx: Context) -> UserStore:
    """The accounts store (the API package is imported only by these commands)."""
    from boom_flow.api.users import UserStore

    client = mongo_client(ctx.settings, timeout_s=5.0)
    store = UserStore(client[ctx.settings.services.mongodb.database],
                      ctx.settings.api.password_hash_rounds)
    store.ensure_indexes()
    return store


@click.group()
def users() -> None:
    """Manage API accounts."""


@users.command("add")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The password (prompted for when not given).")
@click.option("--email", default=None)
@click.option("--programid", "programids", type=click.IntRange(1, 3), multiple=True,
              help="A ZTF programid the user may see (repeat: --programid 1 --programid 2).")
@click.option("--admin", is_flag=True, help="An administrator (all data, manages users).")
@pass_context
def users_add(ctx: Context, username: str, password: str, email: str | None,
              programids: tuple[int, ...], admin: bool) -> None:
    """Create an account."""
    from boom_flow.api.users import UserExists

    try:
        user = _users(ctx).create(username=username, password=password, email=email,
                                  permissions={"ZTF": list(programids)}, is_admin=admin)
    except (UserExists, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"created user {user['username']} ({user['id']})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def users_list(ctx: Context, as_json: bool) -> None:
    """List the accounts."""
    found = _users(ctx).list()
    if as_json:
        click.echo(json.dumps(found, default=str, indent=2))
        return
    for user in found:
        role = "admin" if user.get("is_admin") else "user"
        ztf = (user.get("permissions") or {}).get("ZTF", [])
        click.echo(f"{user['username']}\t{role}\tZTF programids {ztf}\t{user['id']}")


@users.command("remove")
@click.argument("username")
@pass_context
def users_remove(ctx: Context, username: str) -> None:
    """Delete an account."""
    if not _users(ctx).delete_username(username):
        raise click.ClickException(f"no user {username!r}")
    click.echo(f"removed user {username}")
