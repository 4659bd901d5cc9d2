"""``boom-flow archive migrate``: bring an archive written by an older boom_flow up to
date (safe to run again; each step skips what is done)."""

from __future__ import annotations

import time

import click

from boom_flow.cli.context import Context, pass_context


@click.group()
def archive() -> None:
    """Maintain the archive (migrations)."""


@archive.command()
@click.option("--survey", "surveys", type=click.Choice(["ztf", "lsst"]), multiple=True,
              help="Only this survey (repeatable) [default: both].")
@click.option("--page", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Documents per read and bulk write.")
@pass_context
def migrate(ctx: Context, surveys: tuple[str, ...], page: int) -> None:
    """Add coordinates.healpix_14 to aux documents written before it existed, so that
    their objects are found as aliases by the other survey."""
    import pymongo

    from boom_flow.storage.migrate import add_aux_pixels

    mongo = ctx.settings.services.mongodb
    with pymongo.MongoClient(mongo.connection_uri, **mongo.client_options()) as client:
        db = client[mongo.database]
        for survey in surveys or ("ztf", "lsst"):
            started = time.perf_counter()
            summary = add_aux_pixels(db, survey, page=page)
            click.echo(f"{survey}: {summary.added:,} aux documents got healpix_14 "
                       f"({summary.scanned:,} lacked it, {summary.no_position:,} without a "
                       f"usable position) in {time.perf_counter() - started:.1f} s")
