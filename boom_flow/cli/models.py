"""``boom-flow models train|list|fetch``: the project's own XGBoost models, the registry
and the published ONNX classifiers."""

from __future__ import annotations

from pathlib import Path

import click

from boom_flow.cli.context import Context, pass_context


@click.group()
def models() -> None:
    """Train XGBoost classifiers, fetch the published ones, inspect the configured models."""


@models.command()
@click.option("--table", "table_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Training table: Parquet (.parquet) or CSV.")
@click.option("--label", required=True, help="The 0/1 label column.")
@click.option("--features", required=True,
              help="Feature columns, comma-separated (the model reads these by name).")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path),
              help="Artifact to write (XGBoost JSON; .json is appended if missing).")
@click.option("--version", "model_version", default="1", show_default=True,
              help="Version recorded in the artifact.")
@click.option("--rounds", default=200, show_default=True,
              help="Maximum boosting rounds (cross-validation stops early).")
@click.option("--folds", default=5, show_default=True, help="Cross-validation folds.")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
def train(table_path: Path, label: str, features: str, out_path: Path, model_version: str,
          rounds: int, folds: int, seed: int) -> None:
    """Train an XGBoost classifier, print its cross-validated metrics, save one artifact.

    The artifact holds the model, its feature list, version and metrics; list it under
    models.<survey> (kind: xgboost) to run it in the classify stage.
    """
    from boom_flow.ml.training import (
        TrainingError,
        read_table,
        save_artifact,
        train_xgboost,
    )

    names = [name.strip() for name in features.split(",") if name.strip()]
    try:
        table = read_table(table_path)
        artifact = train_xgboost(table, label, names, model_version, rounds=rounds,
                                 nfold=folds, seed=seed)
    except TrainingError as error:
        raise click.ClickException(str(error)) from None
    written = save_artifact(artifact, out_path)
    click.echo(f"trained on {int(artifact.metrics['rows'])} rows "
               f"({int(artifact.metrics['positives'])} positive), {len(names)} features")
    click.echo(f"{folds}-fold cross-validation ({int(artifact.metrics['rounds'])} rounds):")
    for name in ("auc", "logloss", "error"):
        spread = artifact.metrics.get(f"cv_{name}_std")
        extra = f" ± {spread:.4f}" if spread is not None else ""
        click.echo(f"  {name:8} {artifact.metrics[f'cv_{name}']:.4f}{extra}")
    click.echo(f"saved {written}")


@models.command("list")
@click.option("--survey", type=click.Choice(["ztf", "lsst"]), default=None,
              help="Only this survey's models.")
@pass_context
def list_models(ctx: Context, survey: str | None) -> None:
    """Show the configured models, their files and whether each loads; exit 1 if one
    does not (the pipeline would run without it)."""
    from boom_flow.ml.models import ModelLoadError
    from boom_flow.ml.registry import load_model, model_path

    settings = ctx.settings.models
    click.echo(f"models_dir: {settings.models_dir}")
    failed = False
    for name in [survey] if survey else ["ztf", "lsst"]:
        specs = getattr(settings, name)
        click.echo(f"{name}: {len(specs)} model(s)")
        for spec in specs:
            data = spec.model_dump(mode="json")
            try:
                model = load_model(data, settings.models_dir)
                status = f"ok ({len(model.columns)} columns"
                status += ", cutouts)" if model.needs_triplets else ")"
            except ModelLoadError as error:
                failed = True
                status = f"FAIL: {error}"
            click.echo(f"  {spec.name:12} {spec.kind:8} {spec.version or '-':16} "
                       f"{model_path(data, settings.models_dir)}")
            click.echo(f"  {'':12} {status}")
    if failed:
        click.echo("`boom-flow models fetch` installs the published ACAI and BTSbot files "
                   f"into {settings.models_dir}", err=True)
        raise SystemExit(1)


@models.command()
@click.option("--from", "source", metavar="DIR|URL", default=None,
              help="A mirror: a folder or a base URL holding the files under their names "
                   "[default: BOOM's repository on GitHub].")
@pass_context
def fetch(ctx: Context, source: str | None) -> None:
    """Download the published ACAI (five heads) and BTSbot ONNX files, check each
    against the SHA-256 pinned in boom_flow, and install them into models.models_dir.

    A file whose checksum is not pinned is refused and nothing of it is kept; a verified
    copy already in place is left alone. Exit 1 unless every file is in place.
    """
    from boom_flow.cli.progress import Phases
    from boom_flow.ml.fetch import FetchResult, fetch_models
    from boom_flow.ml.published import DEFAULT_SOURCE, PUBLISHED_MODELS

    models_dir = ctx.settings.models.models_dir
    source = source or DEFAULT_SOURCE
    click.echo(f"fetching {len(PUBLISHED_MODELS)} model files from {source}")
    click.echo(f"into {models_dir} (models.models_dir)")
    phases = Phases(unit="B", unit_scale=True, leave=False)

    def report(result: FetchResult) -> None:
        phases.close()
        verdict = f"{result.status}: {result.detail}" if result.detail else result.status
        click.echo(f"  {result.name:30} {verdict}")
        if not result.ok:
            click.echo(f"  {'':30} looked at {result.location}")

    with phases:
        results = fetch_models(models_dir, source, progress=phases, on_result=report)
    ready = sum(result.ok for result in results)
    click.echo(f"{ready} of {len(PUBLISHED_MODELS)} model files ready in {models_dir}")
    if ready == len(PUBLISHED_MODELS):
        return
    statuses = {result.status for result in results}
    if "refused" in statuses:
        click.echo("a refused file matches none of the pinned checksums (a damaged download "
                   "or a wrong mirror): nothing of it was kept", err=True)
    if statuses & {"unavailable", "unreachable"}:
        click.echo(f"could not get every file from {source}. Without internet access, copy "
                   "the files from a machine that has them (or a mirror) and run: "
                   "boom-flow models fetch --from DIR|URL", err=True)
    raise SystemExit(1)
