"""``boom-flow catalogs ingest|list|backfill``: the catalogs the crossmatch uses."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from boom_flow.cli.context import Context, pass_context
from boom_flow.cli.progress import bar

if TYPE_CHECKING:
    from boom_flow.crossmatch.tables import SortedRows


@click.group()
def catalogs() -> None:
    """Ingest catalogs for the crossmatch, list them, back-fill archived objects."""


def _rate(rows: int, seconds: float) -> str:
    return f"{rows:,} rows in {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)"


@catalogs.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Catalog name (the store folder and the "
              "MongoDB collection; what crossmatch.<survey>[].catalog refers to).")
@click.option("--ra", "ra_column", default=None, help="RA column (degrees); default: "
              "the first of ra, RA, RAdeg, RAJ2000, ...")
@click.option("--dec", "dec_column", default=None, help="Dec column (degrees); default: "
              "the first of dec, DEC, DEdeg, DEJ2000, ...")
@click.option("--mongo/--no-mongo", default=True, show_default=True,
              help="Also load the MongoDB collection (2dsphere-indexed, for API cone "
                   "searches). Slow on SecantusDB: skip it for large catalogs.")
@click.option("--partition-rows", type=click.IntRange(min=1), default=None,
              help="Rows per HEALPix partition at most [default: "
                   "crossmatch.partition_max_rows].")
@pass_context
def ingest(ctx: Context, path: Path, name: str, ra_column: str | None, dec_column: str | None,
           mongo: bool, partition_rows: int | None) -> None:
    """Load a Parquet, CSV or FITS table as catalog NAME: HEALPix-partitioned Parquet
    (HATS layout) under crossmatch.catalogs_dir, and a MongoDB collection.

    Rows with unusable positions are refused, counted by reason and kept in
    NAME/refused.parquet. Nothing replaces a previous version of NAME unless every
    part succeeds.
    """
    from boom_flow.crossmatch.store import check_name, stage_catalog
    from boom_flow.crossmatch.tables import CatalogInputError, read_table, sort_rows

    settings = ctx.settings
    started = time.perf_counter()
    try:
        check_name(name)
        rows = sort_rows(read_table(path), ra_column, dec_column)
    except (CatalogInputError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    total = rows.table.num_rows + rows.refused_count
    click.echo(f"read {path}: {total:,} rows; position columns {rows.ra_column}, "
               f"{rows.dec_column}")
    if rows.refused_count:
        click.echo(f"refused {rows.refused_count:,} rows (kept in {name}/refused.parquet):")
        for reason, count in sorted(rows.reasons.items()):
            click.echo(f"  {count:>10,}  {reason}")
    if not rows.table.num_rows:
        raise click.ClickException("no row has a usable position: nothing loaded")
    root = settings.crossmatch.catalogs_dir
    max_rows = partition_rows or settings.crossmatch.partition_max_rows
    with bar("partitions", rows.table.num_rows, unit="rows", leave=False) as partitions:
        staged = stage_catalog(root, name, rows, source=str(path), max_rows=max_rows,
                               progress=partitions.update)
    try:
        if mongo:
            _load_mongo(ctx, name, rows)
        target = staged.commit()
    except BaseException:
        staged.discard()
        raise
    click.echo(f"stored {staged.rows:,} rows in {staged.partitions} partitions at {target} "
               f"({_rate(total, time.perf_counter() - started)})")


def _load_mongo(ctx: Context, name: str, rows: SortedRows) -> None:
    import bson
    import pymongo

    from boom_flow.storage.catalogs import load_catalog_collection

    mongo = ctx.settings.services.mongodb
    started = time.perf_counter()
    table = rows.table
    with pymongo.MongoClient(mongo.connection_uri, **mongo.client_options()) as client, \
            bar("mongodb", table.num_rows, unit="docs", leave=False) as docs:
        try:
            written = load_catalog_collection(client[mongo.database], name, table,
                                              rows.ra_column, rows.dec_column,
                                              progress=docs.update)
        except (pymongo.errors.PyMongoError, bson.errors.BSONError) as error:
            raise click.ClickException(f"MongoDB load of {name} failed, nothing replaced: "
                                       f"{error}") from None
    click.echo(f"collection {mongo.database}.{name}: "
               f"{_rate(written, time.perf_counter() - started)}, 2dsphere index")


@catalogs.command("list")
@pass_context
def list_command(ctx: Context) -> None:
    """Show the ingested catalogs: rows, columns, partitions, size on disk."""
    from boom_flow.crossmatch.store import list_catalogs

    root = ctx.settings.crossmatch.catalogs_dir
    found = list_catalogs(root)
    click.echo(f"catalogs_dir: {root}")
    if not found:
        click.echo("no catalog ingested (boom-flow catalogs ingest FILE --name NAME)")
        return
    click.echo(f"{'name':16} {'rows':>12} {'refused':>8} {'partitions':>10} {'size':>10}  "
               "columns")
    for info in found:
        size = f"{info.size_bytes / 2**20:,.1f} MiB"
        columns = ", ".join(info.columns)
        if len(columns) > 60:
            columns = f"{columns[:50].rsplit(', ', 1)[0]}, ... ({len(info.columns)} columns)"
        click.echo(f"{info.name:16} {info.rows:>12,} {info.refused:>8,} "
                   f"{len(info.partitions):>10} {size:>10}  {columns}")
    surveys = ctx.settings.crossmatch
    for survey in ("ztf", "lsst"):
        missing = [c.catalog for c in getattr(surveys, survey)
                   if c.catalog not in {i.name for i in found}]
        if missing:
            click.echo(f"configured for {survey} but not ingested: {', '.join(missing)}")


@catalogs.command()
@click.argument("name")
@click.option("--survey", type=click.Choice(["ztf", "lsst"]), default="ztf", show_default=True)
@click.option("--page", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Objects per read and bulk write.")
@pass_context
def backfill(ctx: Context, name: str, survey: str, page: int) -> None:
    """Add catalog NAME's matches to the objects already archived for SURVEY, using
    its crossmatch.<survey> settings. Resumable: objects that have them are skipped."""
    import pymongo

    from boom_flow.crossmatch.matching import CatalogSpec
    from boom_flow.crossmatch.reader import CatalogReader
    from boom_flow.crossmatch.store import catalog_info
    from boom_flow.storage import collection_names
    from boom_flow.storage.backfill import backfill_catalog

    settings = ctx.settings
    configured = [c for c in getattr(settings.crossmatch, survey) if c.catalog == name]
    if not configured:
        raise click.ClickException(f"catalog {name!r} is not configured for {survey}: add it "
                                   f"to crossmatch.{survey} (radius, projection, ...) first")
    spec = CatalogSpec(**configured[0].model_dump())
    try:
        info = catalog_info(settings.crossmatch.catalogs_dir, name)
        reader = CatalogReader(info, spec.needed_columns(info.columns))
    except (FileNotFoundError, KeyError) as error:
        raise click.ClickException(str(error).strip("'\"")) from None
    mongo = settings.services.mongodb
    started = time.perf_counter()
    with pymongo.MongoClient(mongo.connection_uri, **mongo.client_options()) as client:
        db = client[mongo.database]
        total = db[collection_names(survey)["alerts_aux"]].estimated_document_count()
        with bar(f"{survey} {name}", total, unit="objects", leave=False) as objects:
            summary = backfill_catalog(db, survey, spec, reader, page=page,
                                       progress=objects.update)
    seconds = time.perf_counter() - started
    click.echo(f"{survey} {name}: {summary.scanned:,} objects scanned in {seconds:.1f} s, "
               f"{summary.matched:,} back-filled ({summary.with_matches:,} with matches), "
               f"{summary.already:,} already had {name}, {summary.no_position:,} without a "
               f"position")
