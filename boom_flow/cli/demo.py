"""``boom-flow demo``: replay a simulated night through the running stack and report."""

from __future__ import annotations

from pathlib import Path

import click

from boom_flow.cli.context import Context, pass_context
from boom_flow.cli.progress import bar, say


@click.command()
@click.option("--alerts", "n_alerts", type=click.IntRange(min=1), default=1000,
              show_default=True, help="Alerts in the simulated night.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the night and of the catalog (same seed, same night).")
@click.option("--catalog-rows", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="Galaxies in the simulated NED-like catalog.")
@click.option("--graph", "graph_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("graphs/ztf.yaml"), show_default=True,
              help="Take the stages from this graph (when the file exists).")
@pass_context
def demo(ctx: Context, n_alerts: int, seed: int, catalog_rows: int, graph_path: Path) -> None:
    """Simulate a ZTF night and replay it through the pipeline (crossmatch against a
    simulated galaxy catalog, features, classifiers, a demo filter) into the archive of
    the running services, then print what came out and where to look next.

    Needs nothing but the services (`boom-flow services up`): no data, no downloads.
    """
    from boom_flow.bench.demo import report_lines, run_demo
    from boom_flow.pipeline.flow import PipelineError
    from boom_flow.pipeline.worker import BatchOutcome
    from boom_flow.services.checks import PINGS

    settings = ctx.settings
    down = [name for name, ping in PINGS.items() if not ping(settings)]
    if down:
        raise click.ClickException(
            f"{', '.join(down)} not reachable: start the local stack with `boom-flow services "
            "up` (or point the configuration at running services), then `boom-flow doctor`")
    progress = bar("demo replay", n_alerts)

    def advance(outcome: BatchOutcome) -> None:
        progress.update(outcome.packets)

    try:
        report = run_demo(settings, n_alerts, seed, catalog_rows, graph_path,
                          progress=lambda m: say(f"demo: {m}"),
                          on_outcome=advance)
    except PipelineError as error:
        raise click.ClickException(f"a batch failed:\n{error}") from None
    finally:
        progress.close()
    for line in report_lines(report):
        click.echo(line)
