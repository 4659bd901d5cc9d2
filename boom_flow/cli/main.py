"""Entry point of the ``boom-flow`` command."""

from __future__ import annotations

import json
from pathlib import Path

import click

from boom_flow import __version__
from boom_flow.cli.api import api, users
from boom_flow.cli.archive import archive
from boom_flow.cli.bench import bench
from boom_flow.cli.catalogs import catalogs
from boom_flow.cli.context import Context, pass_context
from boom_flow.cli.demo import demo
from boom_flow.cli.filters import filters
from boom_flow.cli.models import models
from boom_flow.cli.pipeline import replay, run
from boom_flow.cli.services import doctor, services
from boom_flow.cli.simulate import simulate
from boom_flow.cli.watchlists import watchlists
from boom_flow.config import CONFIG_PATH_VARIABLE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="boom-flow")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar=CONFIG_PATH_VARIABLE,
              help=f"YAML configuration file [env: {CONFIG_PATH_VARIABLE}].")
@click.pass_context
def cli(click_ctx: click.Context, config_path: Path | None) -> None:
    """boom_flow: a real-time alert broker for ZTF and LSST on Dask."""
    click_ctx.obj = Context(config_path)


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@pass_context
def config_show(ctx: Context) -> None:
    """Print the effective configuration (secrets masked) as JSON."""
    click.echo(json.dumps(ctx.settings.model_dump(mode="json"), indent=2))


@config.command("reference")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write it to this file (docs/configuration.md).")
def config_reference(out_path: Path | None) -> None:
    """Print the configuration reference (Markdown) generated from the schema and the
    commented packaged defaults."""
    from boom_flow.config.reference import render

    text = render()
    if out_path is None:
        click.echo(text, nl=False)
        return
    out_path.write_text(text)
    click.echo(f"wrote {out_path}")


cli.add_command(services)
cli.add_command(doctor)
cli.add_command(run)
cli.add_command(replay)
cli.add_command(models)
cli.add_command(catalogs)
cli.add_command(archive)
cli.add_command(filters)
cli.add_command(watchlists)
cli.add_command(api)
cli.add_command(users)
cli.add_command(bench)
cli.add_command(demo)
cli.add_command(simulate)


def main() -> None:
    cli(prog_name="boom-flow")


if __name__ == "__main__":
    main()
