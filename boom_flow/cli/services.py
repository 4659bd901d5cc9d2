"""``boom-flow services up|status|down`` and ``boom-flow doctor``."""

from __future__ import annotations

import click

from boom_flow.cli.context import Context, pass_context
from boom_flow.services import LocalStack, StackError, run_doctor
from boom_flow.services.embedded import MissingServerError


@click.group()
def services() -> None:
    """Start, report and stop the embedded local stack (MongoDB, Kafka, Valkey)."""


@services.command()
@click.option("--timeout", default=30.0, show_default=True,
              help="Seconds to wait for each server to answer.")
@pass_context
def up(ctx: Context, timeout: float) -> None:
    """Start the embedded servers that are not running (idempotent).

    Services configured as external (embedded: false) are left alone.
    """
    stack = LocalStack(ctx.settings)
    try:
        outcome = stack.up(timeout_s=timeout)
    except (StackError, MissingServerError) as error:
        raise click.ClickException(str(error)) from None
    if not outcome:
        click.echo("every service is external: nothing to start")
    for name, what in outcome:
        click.echo(f"{name:8} {what}")
    _print_status(stack)


@services.command()
@pass_context
def status(ctx: Context) -> None:
    """Show each service's address, PID and health; exit 1 if any is unhealthy."""
    if not _print_status(LocalStack(ctx.settings)):
        raise SystemExit(1)


@services.command()
@pass_context
def down(ctx: Context) -> None:
    """Stop the servers that 'up' started, and nothing else."""
    stopped = LocalStack(ctx.settings).down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


def _print_status(stack: LocalStack) -> bool:
    statuses = stack.status()
    click.echo(f"{'service':8} {'mode':9} {'pid':>7}  {'health':9} address")
    for entry in statuses:
        health = "healthy" if entry.healthy else ("down" if not entry.running else "unhealthy")
        pid = str(entry.pid) if entry.pid else "-"
        click.echo(f"{entry.name:8} {entry.mode:9} {pid:>7}  {health:9} {entry.address}")
    return all(entry.healthy for entry in statuses)


@click.command()
@click.option("--conformance", is_flag=True,
              help="Also run MongoDB's documented semantics against the document server "
                   "and list every deviation.")
@pass_context
def doctor(ctx: Context, conformance: bool) -> None:
    """Check every configured service: connect, version, a write/read round trip."""
    results = run_doctor(ctx.settings)
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        version = f" [{result.version}]" if result.version else ""
        click.echo(f"{mark} {result.service:8} {result.address}{version}")
        click.echo(f"     {result.detail}")
    if not all(result.ok for result in results):
        raise click.ClickException("some services are not usable (see above)")
    click.echo("all services healthy")
    if conformance:
        _print_conformance(ctx)


def _print_conformance(ctx: Context) -> None:
    """Each deviation from MongoDB's documented behaviour, one line each (a deviation is
    reported, not a failure: the operator decides whether users may rely on it)."""
    from boom_flow.services.checks import mongo_client
    from boom_flow.services.conformance import describe, run_conformance

    with mongo_client(ctx.settings) as client:
        version = client.server_info().get("version", "?")
        findings = run_conformance(client[ctx.settings.services.mongodb.database])
    deviations = [finding for finding in findings if finding.deviates]
    click.echo(f"conformance of the document server (version {version}): "
               f"{len(findings)} checks, {len(deviations)} deviations from MongoDB")
    for finding in deviations:
        click.echo(f"DEVIATION {describe(finding)}")
