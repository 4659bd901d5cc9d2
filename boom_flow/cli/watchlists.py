"""``boom-flow watchlists upload|list|show|delete``: users' lists of named positions that
filters refer to (``filters add --watchlist ID``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pymongo

from boom_flow.cli.context import Context, pass_context
from boom_flow.services.checks import mongo_client

if TYPE_CHECKING:
    from boom_flow.filters.watchlists import WatchlistStore


@contextmanager
def _store(ctx: Context) -> Iterator[WatchlistStore]:
    from boom_flow.filters.watchlists import WatchlistError, WatchlistStore

    client = mongo_client(ctx.settings, timeout_s=5.0)
    try:
        yield WatchlistStore(client[ctx.settings.services.mongodb.database])
    except WatchlistError as error:
        raise click.ClickException(f"invalid watchlist: {error}") from None
    except pymongo.errors.PyMongoError as error:
        raise click.ClickException(f"MongoDB: {error}") from None
    finally:
        client.close()


@click.group()
def watchlists() -> None:
    """Users' watchlists: named positions with radii that filters can refer to."""


@watchlists.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True)
@click.option("--user", "user_id", required=True, help="The owner's user id.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None,
              help="Default: from the file's extension, else its first character.")
@pass_context
def upload(ctx: Context, file: Path, name: str, user_id: str, fmt: str | None) -> None:
    """Store FILE (CSV with the header name,ra,dec,radius, radius in arcsec; or JSON: a
    list of {name, ra, dec, radius}). Every bad row is reported; nothing is stored then."""
    from boom_flow.filters.watchlists import parse_targets

    suffix = file.suffix.lower().lstrip(".")
    with _store(ctx) as store:
        targets = parse_targets(file.read_bytes(),
                                fmt or (suffix if suffix in ("csv", "json") else None))
        document = store.create(name=name, user_id=user_id, targets=targets)
    click.echo(f"created {document['_id']} ({len(targets)} targets)")


@watchlists.command("list")
@click.option("--user", "user_id", help="Only this owner's.")
@pass_context
def list_(ctx: Context, user_id: str | None) -> None:
    """The watchlists: id, owner, number of targets, name."""
    with _store(ctx) as store:
        found = store.list(user_id)
    for document in found:
        click.echo(f"{document['_id']}  {document['user_id']:12} {document['targets']:>7} "
                   f"targets  {document['name']}")
    if not found:
        click.echo("no watchlist (boom-flow watchlists upload FILE --name N --user U)")


@watchlists.command()
@click.argument("watchlist_id")
@pass_context
def show(ctx: Context, watchlist_id: str) -> None:
    """One watchlist as JSON, with its targets."""
    with _store(ctx) as store:
        document = store.get(watchlist_id)
    if document is None:
        raise click.ClickException(f"no such watchlist: {watchlist_id}")
    click.echo(json.dumps(document, indent=2, default=str))


@watchlists.command()
@click.argument("watchlist_id")
@pass_context
def delete(ctx: Context, watchlist_id: str) -> None:
    """Delete a watchlist no filter refers to."""
    with _store(ctx) as store:
        users = [f["_id"] for f in store.collection.database.filters.find(
            {"watchlist_id": watchlist_id}, {"_id": 1})]
        if users:
            raise click.ClickException(f"watchlist {watchlist_id} is used by filters "
                                       f"{', '.join(users)}")
        if not store.delete(watchlist_id):
            raise click.ClickException(f"no such watchlist: {watchlist_id}")
    click.echo(f"deleted {watchlist_id}")
