"""``boom-flow bench``: the reference workload of benchmark.md through the pipeline."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import click

from boom_flow.cli.context import Context, pass_context


@click.command()
@click.option("--quick", is_flag=True,
              help="1,000 alerts and a 50,000-row catalog (under 2 minutes).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("bench-results"), show_default=True,
              help="Folder for bench.json and bench.md.")
@click.option("--alerts", "n_alerts", type=click.IntRange(min=10), default=None,
              help="Alerts in the measured night (default: 29,140; quick: 1,000).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the simulated nights and catalog.")
@click.option("--catalog-rows", type=click.IntRange(min=0), default=None,
              help="Rows of the simulated galaxy catalog (default 1,870,000; quick 50,000).")
@click.option("--use-services", is_flag=True,
              help="Use the configured services instead of a temporary embedded stack.")
@pass_context
def bench(ctx: Context, quick: bool, out_dir: Path, n_alerts: int | None, seed: int,
          catalog_rows: int | None, use_services: bool) -> None:
    """Benchmark the pipeline: a simulated ZTF night from Kafka into MongoDB.

    Reports alerts/s end to end, each stage's share of the time, latency from the
    Kafka timestamp to the filter result, worker memory, and, in the same run, the
    ceilings (decode, inference and write alone). Unless --use-services is given it
    starts its own servers on free ports in a temporary folder and removes them after.
    """
    from dataclasses import replace

    from boom_flow.bench.report import write_reports
    from boom_flow.bench.runner import run_benchmark
    from boom_flow.bench.stack import temporary_stack
    from boom_flow.bench.workload import full_workload, quick_workload
    from boom_flow.cli.progress import Phases, say

    spec = (quick_workload if quick else full_workload)(seed=seed, n_alerts=n_alerts)
    if catalog_rows is not None:
        spec = replace(spec, catalog_rows=catalog_rows)
    stack = (nullcontext(ctx.settings) if use_services
             else temporary_stack(ctx.config_path))
    with stack as settings, Phases(leave=False) as phases:
        results = run_benchmark(settings, spec, progress=lambda m: say(f"bench: {m}"),
                                meter=phases)
    json_path, markdown_path = write_reports(results, out_dir)
    click.echo(markdown_path.read_text())
    click.echo(f"results: {json_path} and {markdown_path}")
