"""``boom-flow bench``: the reference workload of benchmark.md through the pipeline."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import click

from boom_flow.cli.context import Context, pass_context, stopped_by_sigterm


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
@click.option("--survey", type=click.Choice(["ztf", "lsst"]), default="ztf", show_default=True,
              help="lsst: Rubin wire packets, the stages of graphs/lsst.yaml, 25 LSST "
                   "filters (lsst.json) and the LSST write ceiling.")
@click.option("--prior-nights", "depths", default="1", show_default=True,
              callback=lambda _c, _p, value: parse_depths(value),
              help="Earlier nights of the same objects stored before the measured night; "
                   "several (e.g. 1,10) measure a night at each depth in one run.")
@pass_context
def bench(ctx: Context, quick: bool, out_dir: Path, n_alerts: int | None, seed: int,
          catalog_rows: int | None, use_services: bool, survey: str,
          depths: tuple[int, ...]) -> None:
    """Benchmark the pipeline: a simulated ZTF night from Kafka into MongoDB.

    Reports alerts/s end to end, each stage's share of the time, the CPU seconds per
    alert of every process (driver, scheduler, workers, servers) with the CPU ceiling
    and the machine's busy share, latency from the Kafka timestamp to the filter
    result, worker memory, and, in the same run, the ceilings (decode, inference and
    write alone). Unless --use-services is given it starts its own servers on free
    ports in a temporary folder and removes them after.
    """
    from dataclasses import replace

    from boom_flow.bench.report import write_reports
    from boom_flow.bench.runner import run_benchmark
    from boom_flow.bench.stack import temporary_stack
    from boom_flow.bench.workload import full_workload, lsst_schema_dir, quick_workload
    from boom_flow.cli.progress import Phases, say

    spec = (quick_workload if quick else full_workload)(seed=seed, n_alerts=n_alerts)
    spec = replace(spec, survey=survey, prior_nights=depths[0], later_depths=depths[1:])
    if catalog_rows is not None:
        spec = replace(spec, catalog_rows=catalog_rows)
    if survey == "lsst":
        schemas = lsst_schema_dir(str(ctx.settings.surveys.lsst.schema_dir or "") or None)
        if schemas is None:
            raise click.UsageError("bench --survey lsst needs the Rubin schemas: set "
                                   "surveys.lsst.schema_dir (or ../shared/data/lsst/schema)")
        spec = replace(spec, lsst_schema_dir=schemas)
    stack = (nullcontext(ctx.settings) if use_services
             else temporary_stack(ctx.config_path))
    with stopped_by_sigterm(), stack as settings, Phases(leave=False) as phases:
        results = run_benchmark(settings, spec, progress=lambda m: say(f"bench: {m}"),
                                meter=phases)
    json_path, markdown_path = write_reports(results, out_dir)
    click.echo(markdown_path.read_text())
    click.echo(f"results: {json_path} and {markdown_path}")


def parse_depths(value: str) -> tuple[int, ...]:
    """``"1,10"`` -> ``(1, 10)``: the archive depths to measure, each >= 0, sorted."""
    try:
        depths = sorted({int(part) for part in str(value).split(",") if part.strip()})
    except ValueError:
        raise click.BadParameter(f"{value!r}: one number or several separated by commas "
                                 "(e.g. 1,10)") from None
    if not depths or depths[0] < 0:
        raise click.BadParameter(f"{value!r}: depths are numbers of nights, 0 or more")
    return tuple(depths)
