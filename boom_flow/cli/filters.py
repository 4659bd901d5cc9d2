"""``boom-flow filters ...``: manage users' filters and try them on past alerts.

The filter modules (and their evaluator) are imported when a command runs, so that
the rest of the command line starts without them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pymongo
import redis

from boom_flow.cli.context import Context, pass_context
from boom_flow.services.checks import mongo_client, valkey_client

if TYPE_CHECKING:
    from boom_flow.filters.store import FilterStore

SURVEYS = click.Choice(["ztf", "lsst"], case_sensitive=False)


def parse_permissions(values: tuple[str, ...]) -> dict[str, list[int]]:
    """``("ZTF=1,2",)`` -> ``{"ZTF": [1, 2]}``."""
    permissions: dict[str, list[int]] = {}
    for value in values:
        survey, _, ids = value.partition("=")
        if not survey or not _:
            raise click.BadParameter(f"{value!r}: expected SURVEY=ID,ID (e.g. ZTF=1,2)",
                                     param_hint="--permissions")
        try:
            permissions[survey.strip().upper()] = [int(i) for i in ids.split(",") if i.strip()]
        except ValueError:
            raise click.BadParameter(f"{value!r}: programids are integers",
                                     param_hint="--permissions") from None
    return permissions


@contextmanager
def _store(ctx: Context) -> Iterator[FilterStore]:
    from boom_flow.filters.store import FilterNotFound, FilterStore, PipelineError

    services = ctx.settings.services
    client = mongo_client(ctx.settings, timeout_s=5.0)
    notifier = valkey_client(ctx.settings, timeout_s=2.0)
    from boom_flow.filters.guard import FilterTooBroad

    try:
        yield FilterStore(client[services.mongodb.database], notifier,
                          ctx.settings.filters.max_match_rate)
    except FilterTooBroad as error:
        raise click.ClickException(str(error)) from None
    except (PipelineError, ValueError) as error:
        raise click.ClickException(f"invalid filter: {error}") from None
    except FilterNotFound as error:
        raise click.ClickException(f"no such filter: {error}") from None
    except pymongo.errors.PyMongoError as error:
        raise click.ClickException(f"MongoDB: {error}") from None
    finally:
        notifier.close()
        client.close()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise click.ClickException(f"cannot read {path}: {error.strerror}") from None


def _summary(document: dict[str, Any]) -> str:
    state = "active" if document.get("active") else "inactive"
    rights = ",".join(f"{k}={'/'.join(map(str, v))}"
                      for k, v in document.get("permissions", {}).items())
    return (f"{document['_id']}  {document['survey']:<4}  {state:<8}  "
            f"v{len(document.get('fv', []))}  {rights or '-':<10}  {document['name']}")


def guard_options(function: Any) -> Any:
    """``--force`` and the reference JD range of the activation guard."""
    function = click.option(
        "--reference-end-jd", type=float, help="... to this jd.")(function)
    function = click.option(
        "--reference-start-jd", type=float,
        help="Measure the pass rate on stored alerts from this jd (default: the 24 hours "
             "up to the last stored alert) ...")(function)
    return click.option(
        "--force", is_flag=True,
        help="Activate even if it passes more than filters.max_match_rate of the "
             "reference night (an operator's, i.e. admin's, override).")(function)


def _guard(force: bool, start_jd: float | None, end_jd: float | None) -> dict[str, Any]:
    if (start_jd is None) != (end_jd is None):
        raise click.UsageError("give both --reference-start-jd and --reference-end-jd")
    return {"force": force, "reference": None if start_jd is None else (start_jd, end_jd)}


def _echo_measured(store: FilterStore) -> None:
    if store.last_match_rate is not None:
        click.echo(f"reference night: {store.last_match_rate.describe()}")


@click.group()
def filters() -> None:
    """Users' filters: MongoDB pipelines run on every new alert."""


@filters.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True)
@click.option("--survey", type=SURVEYS, required=True)
@click.option("--permissions", "permissions", multiple=True, metavar="SURVEY=ID,ID",
              help="Programids the filter may see, e.g. ZTF=1,2.")
@click.option("--user", "user_id", required=True, help="The owner's user id.")
@click.option("--description", default="")
@click.option("--inactive", is_flag=True, help="Store it without running it yet.")
@click.option("--watchlist", "watchlist_id", default=None,
              help="Run only on alerts near this watchlist's targets (boom-flow watchlists).")
@guard_options
@pass_context
def add(ctx: Context, file: Path, name: str, survey: str, permissions: tuple[str, ...],
        user_id: str, description: str, inactive: bool, force: bool,
        reference_start_jd: float | None, reference_end_jd: float | None,
        watchlist_id: str | None) -> None:
    """Create a filter from FILE (a JSON array of pipeline stages)."""
    with _store(ctx) as store:
        document = store.create(name=name, survey=survey, user_id=user_id,
                                permissions=parse_permissions(permissions),
                                pipeline=_read(file), description=description,
                                active=not inactive, watchlist_id=watchlist_id,
                                **_guard(force, reference_start_jd, reference_end_jd))
    _echo_measured(store)
    click.echo(f"created {document['_id']} (version {document['active_fid']})")


@filters.command("version")
@click.argument("filter_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-activate", is_flag=True, help="Keep the current version live.")
@guard_options
@pass_context
def version(ctx: Context, filter_id: str, file: Path, no_activate: bool, force: bool,
            reference_start_jd: float | None, reference_end_jd: float | None) -> None:
    """Add a new version of a filter's pipeline from FILE."""
    with _store(ctx) as store:
        added = store.add_version(filter_id, _read(file), activate=not no_activate,
                                  **_guard(force, reference_start_jd, reference_end_jd))
    _echo_measured(store)
    click.echo(f"added version {added['fid']} to {filter_id}")


@filters.command("list")
@click.option("--survey", type=SURVEYS)
@click.option("--user", "user_id")
@click.option("--active/--inactive", default=None)
@pass_context
def list_(ctx: Context, survey: str | None, user_id: str | None, active: bool | None) -> None:
    """One line per filter."""
    with _store(ctx) as store:
        documents = store.list(user_id=user_id, survey=survey, active=active)
    for document in documents:
        click.echo(_summary(document))
    if not documents:
        click.echo("no filters")


@filters.command("show")
@click.argument("filter_id")
@pass_context
def show(ctx: Context, filter_id: str) -> None:
    """A filter with all its versions, as JSON."""
    with _store(ctx) as store:
        document = store.get(filter_id)
    if document is None:
        raise click.ClickException(f"no such filter: {filter_id}")
    click.echo(json.dumps(document, indent=2, default=str))


@filters.command("activate")
@click.argument("filter_id")
@click.option("--fid", help="Make this version the live one.")
@guard_options
@pass_context
def activate(ctx: Context, filter_id: str, fid: str | None, force: bool,
             reference_start_jd: float | None, reference_end_jd: float | None) -> None:
    """Run a filter on the live stream (running pipelines pick it up in seconds), unless
    it passes more than filters.max_match_rate of the reference night."""
    with _store(ctx) as store:
        document = store.activate(filter_id, fid,
                                  **_guard(force, reference_start_jd, reference_end_jd))
    _echo_measured(store)
    click.echo(f"{filter_id} active (version {document['active_fid']})")


@filters.command("deactivate")
@click.argument("filter_id")
@pass_context
def deactivate(ctx: Context, filter_id: str) -> None:
    """Stop running a filter."""
    with _store(ctx) as store:
        store.deactivate(filter_id)
    click.echo(f"{filter_id} inactive")


@filters.command("test")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--survey", type=SURVEYS, required=True)
@click.option("--permissions", "permissions", multiple=True, metavar="SURVEY=ID,ID")
@click.option("--path", "night", type=click.Path(exists=True, path_type=Path),
              help="Replay these files (a folder, an .avro file or a nightly .tar.gz).")
@click.option("--start-jd", type=float, help="Stored alerts from this jd ...")
@click.option("--end-jd", type=float, help="... to this jd.")
@click.option("--limit", type=int, default=None, help="Stop after this many passed.")
@click.option("--sample", type=int, default=3, show_default=True,
              help="How many passing outputs to print.")
@click.option("--explain", is_flag=True,
              help="Print how many alerts enter and leave each stage instead.")
@click.option("--candid", "candids", type=int, multiple=True,
              help="With --explain: the stage and the false condition that dropped this "
                   "alert, with the values it saw (repeatable).")
@pass_context
def test(ctx: Context, file: Path, survey: str, permissions: tuple[str, ...],
         night: Path | None, start_jd: float | None, end_jd: float | None,
         limit: int | None, sample: int, explain: bool, candids: tuple[int, ...]) -> None:
    """Run the pipeline in FILE over a night of files (--path) or the stored archive
    (--start-jd/--end-jd), as the live stream would (no look-ahead): print how many
    alerts passed and a sample of the outputs (--explain: stage by stage)."""
    from boom_flow.filters import backtest
    from boom_flow.filters.mql import PipelineError

    if (night is None) == (start_jd is None or end_jd is None):
        raise click.UsageError("give either --path or both --start-jd and --end-jd")
    if candids and not explain:
        raise click.UsageError("--candid goes with --explain")
    rights = parse_permissions(permissions)
    pipeline = _read(file)
    if explain:
        _explain(ctx, file, survey, rights, night, start_jd, end_jd, candids)
        return
    try:
        if night is not None:
            options = _survey_options(ctx, survey)
            seen, outputs = backtest.test_filter_on_files(
                night, survey=survey, pipeline=pipeline, permissions=rights, limit=limit,
                survey_options=options)
            share = f" ({100 * len(outputs) / seen:.2f}%)" if seen and limit is None else ""
            where = f"{seen} alerts of {night}{share}"
        else:
            with _store(ctx) as store:
                outputs = backtest.test_filter_on_archive(
                    store.collection.database, survey=survey, pipeline=pipeline,
                    permissions=rights, start_jd=start_jd, end_jd=end_jd, limit=limit)
            where = f"stored {survey.upper()} alerts with {start_jd} <= jd <= {end_jd}"
    except (PipelineError, ValueError) as error:
        raise click.ClickException(f"invalid filter: {error}") from None
    click.echo(f"{len(outputs)} passed over {where}")
    for output in outputs[:sample]:
        click.echo(json.dumps(output, default=str))


def _explain(ctx: Context, file: Path, survey: str, rights: dict[str, list[int]],
             night: Path | None, start_jd: float | None, end_jd: float | None,
             candids: tuple[int, ...]) -> None:
    from boom_flow.filters import backtest
    from boom_flow.filters.mql import PipelineError
    from boom_flow.filters.mql.explain import describe

    try:
        if night is not None:
            report = backtest.explain_on_files(
                night, survey=survey, pipeline=_read(file), permissions=rights,
                trace=candids, survey_options=_survey_options(ctx, survey))
        else:
            assert start_jd is not None and end_jd is not None
            with _store(ctx) as store:
                report = backtest.explain_on_archive(
                    store.collection.database, survey=survey, pipeline=_read(file),
                    permissions=rights, start_jd=start_jd, end_jd=end_jd, trace=candids)
    except (PipelineError, ValueError) as error:
        raise click.ClickException(f"invalid filter: {error}") from None
    for line in describe(report):
        click.echo(line)


def _survey_options(ctx: Context, survey: str) -> dict[str, Any]:
    if survey.lower() != "lsst":
        return {}
    lsst = ctx.settings.surveys.lsst
    return {"schema_registry_url": lsst.schema_registry_url,
            "schema_dir": str(lsst.schema_dir) if lsst.schema_dir else None}


@contextmanager
def _valkey(ctx: Context) -> Iterator[redis.Redis]:
    client = valkey_client(ctx.settings, timeout_s=5.0)
    try:
        yield client
    except redis.RedisError as error:
        raise click.ClickException(f"Valkey: {error}") from None
    finally:
        client.close()


@filters.command("results")
@click.argument("filter_id")
@click.option("--since", "since_ms", type=int, default=0,
              help="Only what was published after this time (ms since the epoch).")
@click.option("--limit", type=int, default=20, show_default=True)
@pass_context
def results(ctx: Context, filter_id: str, since_ms: int, limit: int) -> None:
    """What passed a filter recently (its Valkey stream), oldest first, one JSON a line."""
    from boom_flow.filters.publish import recent_results

    with _valkey(ctx) as valkey:
        found = recent_results(valkey, filter_id, since_ms, limit)
    for entry in found:
        click.echo(json.dumps(entry, default=str))
    if not found:
        click.echo("no results")


@filters.command("errors")
@click.option("--survey", type=SURVEYS, required=True)
@click.option("--limit", type=int, default=20, show_default=True)
@pass_context
def errors(ctx: Context, survey: str, limit: int) -> None:
    """The latest alerts a filter failed on (with the reason), and the count per filter."""
    from boom_flow.filters.publish import error_counts_key, recent_errors

    with _valkey(ctx) as valkey:
        counts = valkey.hgetall(error_counts_key(survey))
        latest = recent_errors(valkey, survey, limit)
    for filter_id, count in sorted(counts.items()):
        click.echo(f"{filter_id.decode()}: {int(count)} errors")
    for entry in latest:
        click.echo(json.dumps(entry, default=str))
    if not counts:
        click.echo("no evaluation errors")
