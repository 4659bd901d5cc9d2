"""``boom-flow simulate night|galaxies``: realistic nights and catalogs to run on."""

from __future__ import annotations

import time
from pathlib import Path

import click

from boom_flow.cli.context import Context, pass_context
from boom_flow.simulate import (
    DeliveryError,
    MissingSchema,
    NightSpec,
    publish_night,
    simulate_galaxy_catalog,
    write_night,
)


@click.group()
def simulate() -> None:
    """Write simulated alert nights and galaxy catalogs (deterministic under --seed)."""


@simulate.command("night")
@click.argument("out", required=False, type=click.Path(path_type=Path))
@click.option("--survey", type=click.Choice(["ztf", "lsst"]), default="ztf", show_default=True)
@click.option("--alerts", "n_alerts", type=click.IntRange(min=0), default=1000,
              show_default=True, help="Alerts in the night.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--objects", "n_objects", type=click.IntRange(min=1), default=None,
              help="Distinct objects (default: about a third of the alerts).")
@click.option("--prior-nights", type=click.IntRange(min=0), default=0, show_default=True,
              help="Earlier nights of history the packets carry.")
@click.option("--night-jd", type=float, default=NightSpec.night_jd, show_default=True,
              help="JD of the start of the night.")
@click.option("--tarball", is_flag=True, help="Write OUT as one nightly .tar.gz.")
@click.option("--kafka", "topic", default=None,
              help="Produce to this Kafka topic (services.kafka) instead of writing files.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --kafka: alerts per second (default: as fast as possible).")
@click.option("--schema-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="LSST: folder of Rubin schemas "
                                 "[default: surveys.lsst.schema_dir].")
@click.option("--schema-version", default=NightSpec.lsst_schema_version, show_default=True,
              help="LSST: Rubin schema version to write.")
@pass_context
def night(ctx: Context, out: Path | None, survey: str, n_alerts: int, seed: int,
          n_objects: int | None, prior_nights: int, night_jd: float, tarball: bool,
          topic: str | None, rate: float | None, schema_dir: Path | None,
          schema_version: str) -> None:
    """Simulate a night of alerts into OUT (a folder, or a .tar.gz with --tarball), or
    onto a Kafka topic with --kafka."""
    if (out is None) == (topic is None):
        raise click.UsageError("give either OUT (files) or --kafka TOPIC, not both or neither")
    if rate is not None and topic is None:
        raise click.UsageError("--rate paces Kafka output: use it with --kafka")
    if survey == "lsst" and schema_dir is None:
        schema_dir = ctx.settings.surveys.lsst.schema_dir
    spec = NightSpec(survey=survey, n_alerts=n_alerts, seed=seed, night_jd=night_jd,
                     n_objects=n_objects, prior_nights=prior_nights,
                     lsst_schema_version=schema_version, lsst_schema_dir=schema_dir)
    start = time.perf_counter()
    try:
        if topic is not None:
            kafka = ctx.settings.services.kafka
            count = publish_night(spec, kafka.bootstrap, topic, rate, kafka.producer_config())
            where = f"Kafka topic {topic} at {kafka.bootstrap}"
        else:
            count = write_night(spec, out, "tarball" if tarball else "folder")
            where = str(out)
    except (MissingSchema, DeliveryError, OSError) as error:
        raise click.ClickException(str(error)) from None
    elapsed = time.perf_counter() - start
    click.echo(f"{count} {survey.upper()} alerts (seed {seed}) -> {where} in {elapsed:.1f} s "
               f"({count / max(elapsed, 1e-9):.0f} alerts/s)")


@simulate.command("galaxies")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rows", type=click.IntRange(min=0), default=1_900_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def galaxies(out: Path, rows: int, seed: int) -> None:
    """Write a NED-like galaxy catalog (objname, ra, dec, z, DistMpc, ...) to OUT
    (Parquet)."""
    start = time.perf_counter()
    table = simulate_galaxy_catalog(rows, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out, index=False)
    click.echo(f"{rows} galaxies (seed {seed}) -> {out} in {time.perf_counter() - start:.1f} s")
