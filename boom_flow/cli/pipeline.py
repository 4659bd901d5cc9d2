"""``boom-flow run GRAPH`` and ``boom-flow replay PATH --survey ztf|lsst``."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click
from distributed import Client

from boom_flow.cli.context import Context, pass_context
from boom_flow.cli.progress import bar, say
from boom_flow.config import Settings
from boom_flow.dashboard import page_address
from boom_flow.metrics import MetricsServer, PipelineMetrics
from boom_flow.pipeline.cluster import dask_client
from boom_flow.pipeline.flow import PipelineError
from boom_flow.pipeline.graph import GraphError, GraphSpec, load_graph
from boom_flow.pipeline.run import files_graph, run_pipeline
from boom_flow.pipeline.summary import RunSummary
from boom_flow.pipeline.worker import BatchOutcome
from boom_flow.storage import collection_names


@click.command()
@click.argument("graph_path", metavar="GRAPH", type=click.Path(exists=True, dir_okay=False,
                                                                path_type=Path))
@click.option("--topic", "topics", multiple=True,
              help="Read these Kafka topics instead of the survey's nightly ones.")
@click.option("--until-idle", type=float, default=None,
              help="Stop after this many seconds with nothing to do: no new Kafka "
                   "message, no batch in flight, the group's partitions assigned.")
@pass_context
def run(ctx: Context, graph_path: Path, topics: tuple[str, ...], until_idle: float | None) -> None:
    """Run the pipeline declared in GRAPH (e.g. graphs/ztf.yaml) until stopped.

    SIGINT or SIGTERM stops it cleanly: the batches in flight are stored and
    committed before it exits.
    """
    graph = _load(graph_path)
    if graph.source.kind == "kafka" and (topics or until_idle):
        source = graph.source.model_copy(update={
            "topics": list(topics) or graph.source.topics,
            "idle_timeout_s": until_idle or graph.source.idle_timeout_s,
        })
        graph = graph.model_copy(update={"source": source})
    _run(ctx, graph)


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--survey", type=click.Choice(["ztf", "lsst"]), required=True,
              help="The survey whose packets PATH holds.")
@click.option("--rate", type=float, default=None,
              help="Packets per second (default: as fast as the pipeline goes).")
@click.option("--graph", "graph_path", type=click.Path(exists=True, dir_okay=False,
                                                         path_type=Path),
              help="Take the stages and batch settings from this graph file.")
@pass_context
def replay(ctx: Context, path: Path, survey: str, rate: float | None,
           graph_path: Path | None) -> None:
    """Replay archived alerts from PATH (an .avro file, a folder or a nightly .tar.gz)
    through the pipeline into the archive, then print a summary."""
    graph = None
    if graph_path is not None:
        graph = _load(graph_path)
        if graph.survey != survey:
            raise click.ClickException(f"{graph_path} is a {graph.survey} graph, not {survey}")
    _run(ctx, files_graph(survey, path, rate, graph))


def _load(path: Path) -> GraphSpec:
    try:
        return load_graph(path)
    except GraphError as error:
        raise click.ClickException(str(error)) from None


def _run(ctx: Context, graph: GraphSpec) -> None:
    settings = ctx.settings
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        click.echo(f"\n{signal.Signals(signum).name}: finishing the batches in flight...",
                   err=True)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    progress = bar(f"{graph.survey} ingest")

    metrics = PipelineMetrics(graph.survey)

    def advance(outcome: BatchOutcome) -> None:
        progress.update(outcome.alerts)
        metrics.observe(outcome)

    try:
        with _metrics_server(settings, metrics), dask_client(settings.dask) as client:
            announce_page(client)
            summary = run_pipeline(settings, graph, stop=stop, on_outcome=advance,
                                   monitor=metrics, client=client)
    except PipelineError as error:
        raise click.ClickException(f"a batch failed; nothing after it was committed:\n{error}")\
            from None
    finally:
        progress.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _print_summary(summary, graph.survey)


def announce_page(client: Client) -> None:
    """Print where the boom_flow dashboard page of this run is (on stderr, beside the
    progress bar; stdout keeps the summary)."""
    address = page_address(client.dashboard_link)
    if address:
        say(f"boom_flow dashboard: {address}")


@contextmanager
def _metrics_server(settings: Settings, metrics: PipelineMetrics) -> Iterator[None]:
    """``/metrics`` and ``/health`` on ``metrics.port`` for as long as the run lasts."""
    config = settings.metrics
    if config.port is None:
        yield
        return
    server = MetricsServer(metrics.registry, lambda: metrics.health(config.stale_after_s),
                           config.host, config.port)
    with server:
        click.echo(f"metrics: http://{config.host}:{server.port}/metrics, "
                   f"health: http://{config.host}:{server.port}/health", err=True)
        yield


def _print_summary(summary: RunSummary, survey: str) -> None:
    for line in summary.lines():
        click.echo(line)
    if summary.rejected:
        click.echo(f"the rejected packets are kept whole, with their reason, in "
                   f"{collection_names(survey)['alerts_rejected']}")
    if summary.nothing_usable:
        raise click.ClickException(f"nothing could be stored: all {summary.rejected} packets "
                                   "were rejected (reasons above)")
