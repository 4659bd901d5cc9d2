"""The demo: a simulated night through the whole pipeline, then what came out of it.

Everything it needs is made here, so it runs on a fresh machine with nothing beside
the checkout: a night of ZTF packets from the simulator written as a folder of
``.avro`` files (replayed like an archived night), a small NED-like galaxy catalog in a
temporary crossmatch store, and one demo filter. It uses the configured services (the
stack ``boom-flow services up`` started), so the archive it fills is the one
``boom-flow api`` then serves.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pandas as pd
import pymongo
import redis
from distributed import Client

from boom_flow.bench.extras import DEMO_FILTER, create_filters, usable_models, with_galaxy_catalog
from boom_flow.config import Settings
from boom_flow.dashboard import page_address
from boom_flow.pipeline.cluster import dask_client
from boom_flow.pipeline.graph import GraphSpec, SourceSpec, StageSpec, load_graph
from boom_flow.pipeline.run import run_pipeline
from boom_flow.pipeline.summary import RunSummary
from boom_flow.pipeline.worker import BatchOutcome
from boom_flow.stages import STAGES
from boom_flow.storage.archive import collection_names

DEMO_NIGHT_JD = 2460507.5
DEMO_CATALOG = "galaxies"
DEMO_FILTER_NAME = "demo: real, positive, not a known asteroid"
DEMO_USER = "demo"
_DEFAULT_STAGES = ("crossmatch", "features", "classify", "filter")
#: Serves the archive the demo filled; the API refuses a secret key under 32 bytes,
#: so the suggestion makes one of 64 hexadecimal characters.
API_COMMAND = ("BOOM_FLOW_API__SECRET_KEY=$(python3 -c 'import secrets; "
               "print(secrets.token_hex(32))') boom-flow api")
#: Gets the classifiers the demo scores with (ACAI x5, BTSbot, about 1 MB).
FETCH_COMMAND = "boom-flow models fetch"


@dataclass
class DemoReport:
    alerts: int
    objects: int
    summary: RunSummary
    catalog_rows: int
    objects_with_matches: int
    objects_checked: int
    classified: int
    models: list[str]
    filter_passes: int
    filter_id: str | None
    stages: list[str]
    dashboard: str | None
    mongo_uri: str
    database: str
    api_url: str = "http://127.0.0.1:4000"
    notes: list[str] = field(default_factory=list)
    #: The simulation's truth: alert id -> kind (transient, variable, bogus, moving).
    kinds: dict[int, str] = field(default_factory=dict)
    #: The night's first and last alert times (JD).
    jd_range: tuple[float, float] | None = None


def demo_graph(path: Path | None, night: Path) -> GraphSpec:
    """The stages of ``path`` (graphs/ztf.yaml) over the night's folder; without a
    graph file, the installed stages of the ZTF pipeline."""
    source = SourceSpec(kind="files", path=night)
    if path is not None and path.is_file():
        return load_graph(path).model_copy(update={"source": source})
    stages = [StageSpec(name=n) for n in _DEFAULT_STAGES if n in STAGES]
    return GraphSpec(survey="ztf", source=source, stages=stages)


def host_galaxies(positions: list[tuple[float, float]], seed: int) -> pd.DataFrame:
    """One galaxy 0.5-2.5" from each position (the night's transients), with the
    columns and redshift spread of the simulated catalog, so the demo's crossmatch
    finds the hosts real transients have (a uniform catalog would match almost
    nothing)."""
    from boom_flow.simulate import simulate_galaxy_catalog

    hosts = simulate_galaxy_catalog(len(positions), seed=seed + 1)
    if not positions:
        return hosts
    rng = np.random.default_rng(seed)
    ra, dec = (np.array(values, dtype=float) for values in zip(*positions, strict=True))
    offset = rng.uniform(0.5, 2.5, len(ra)) / 3600.0
    angle = rng.uniform(0.0, 2 * np.pi, len(ra))
    hosts["dec"] = np.clip(dec + offset * np.sin(angle), -90.0, 90.0)
    hosts["ra"] = (ra + offset * np.cos(angle) / np.maximum(np.cos(np.radians(dec)), 1e-6)) % 360
    hosts["objname"] = [f"HOST {i}" for i in range(len(ra))]
    return hosts


def _position(packet: bytes) -> tuple[float, float]:
    candidate = next(fastavro.reader(io.BytesIO(packet)))["candidate"]
    return float(candidate["ra"]), float(candidate["dec"])


def demo_filter(settings: Settings) -> str:
    """The demo filter's id: the one an earlier demo made, or a new one."""
    mongo = settings.services.mongodb
    with pymongo.MongoClient(mongo.connection_uri, **mongo.client_options()) as client:
        found = client[mongo.database]["filters"].find_one(
            {"user_id": DEMO_USER, "name": DEMO_FILTER_NAME, "active": True}, {"_id": 1})
    if found is not None:
        return str(found["_id"])
    return create_filters(settings, 1, json.dumps(DEMO_FILTER), DEMO_FILTER_NAME,
                          user_id=DEMO_USER, numbered=False)[0]


def no_models_note(settings: Settings) -> str:
    return (f"no classifier model in {settings.models.models_dir}, so no scores: "
            f"`{FETCH_COMMAND}` installs ACAI and BTSbot there; then run the demo again "
            "(--seed 1 for a new night)")


def run_demo(settings: Settings, n_alerts: int, seed: int, catalog_rows: int,
             graph_path: Path | None, progress: Callable[[str], None],
             on_outcome: Callable[[BatchOutcome], None] | None = None,
             client: Client | None = None, prior_nights: int = 0,
             night_jd: float = DEMO_NIGHT_JD) -> DemoReport:
    """Simulate, prepare and replay the demo night (see the module doc); ``client``: an
    existing Dask client to run on (a notebook's), else a cluster for this run;
    ``prior_nights``: earlier nights the packets' histories reach back to; ``night_jd``:
    the night's start (simulated alert ids follow the exposures, so two nights of one
    date share ids whatever their seeds)."""
    from boom_flow.simulate import NightSpec, simulate_night
    from boom_flow.simulate.output import write_files

    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="boom-flow-demo-") as scratch:
        folder = Path(scratch) / "night"
        candids: list[int] = []
        kinds: dict[int, str] = {}
        jds: list[float] = []
        objects: set[str] = set()
        transients: dict[str, tuple[float, float]] = {}

        def tap(alerts: Iterable[Any]) -> Iterator[Any]:
            for alert in alerts:
                candids.append(int(alert.alert_id))
                kinds[int(alert.alert_id)] = alert.kind
                jds.append(float(alert.jd))
                objects.add(str(alert.object_id))
                if alert.kind == "transient" and alert.object_id not in transients:
                    transients[str(alert.object_id)] = _position(alert.packet)
                yield alert

        progress(f"simulating a night of {n_alerts:,} ZTF alerts (seed {seed}) into {folder}")
        spec = NightSpec(survey="ztf", n_alerts=n_alerts, seed=seed, night_jd=night_jd,
                         prior_nights=prior_nights)
        write_files(tap(simulate_night(spec)), folder, "folder")
        graph = demo_graph(graph_path, folder)
        stages = [s.name for s in graph.stages]
        if "crossmatch" in stages:
            progress(f"catalog: {catalog_rows:,} simulated galaxies and the hosts of "
                     f"{len(transients):,} transients (NED-like, 300\" with the distance rule)")
            settings, catalog_rows = with_galaxy_catalog(
                settings, catalog_rows, seed, Path(scratch) / "catalogs", DEMO_CATALOG,
                hosts=host_galaxies(list(transients.values()), seed))
        filter_id = None
        if "filter" in stages:
            filter_id = demo_filter(settings)
            progress(f"filter: {DEMO_FILTER_NAME!r} ({filter_id})")
        models = usable_models(settings) if "classify" in stages else []
        if "classify" in stages and not models:
            notes.append(no_models_note(settings))
        started_ms = time.time() * 1000
        progress(f"replaying through {' -> '.join(['decode', *stages, 'write'])}")
        cluster = nullcontext(client) if client is not None else dask_client(settings.dask)
        with cluster as client:
            dashboard = page_address(client.dashboard_link)
            if dashboard:
                progress(f"boom_flow dashboard (while the replay runs): {dashboard}")
            summary = run_pipeline(settings, graph, on_outcome=on_outcome, client=client)
    matched, checked, classified = _archive_counts(settings, candids, sorted(objects))
    passes = _filter_passes(settings, filter_id, started_ms, set(candids)) if filter_id else 0
    if summary.duplicates:
        # Simulated candids encode the exposure and the CCD like ZTF's, so another seed's
        # night can draw a few of the same ids: not only a rerun of this seed.
        notes.append(f"{summary.duplicates:,} alerts had ids already in the archive (an "
                     "earlier demo of this night) and were left as stored, without new "
                     "scores or filter results; try --seed N for a new night")
    mongo = settings.services.mongodb
    return DemoReport(
        alerts=len(candids), objects=len(objects), summary=summary, catalog_rows=catalog_rows,
        objects_with_matches=matched, objects_checked=checked, classified=classified,
        models=models, filter_passes=passes, filter_id=filter_id, stages=stages,
        dashboard=dashboard,
        mongo_uri=mongo.connection_uri, database=mongo.database,
        api_url=f"http://{settings.api.host}:{settings.api.port}", notes=notes, kinds=kinds,
        jd_range=(min(jds), max(jds)) if jds else None,
    )


def _archive_counts(settings: Settings, candids: list[int], objects: list[str]
                    ) -> tuple[int, int, int]:
    """(objects with a galaxy match, objects checked, alerts with a classification),
    read back from the archive: what the demo shows is what was stored."""
    mongo = settings.services.mongodb
    names = collection_names("ZTF")
    with pymongo.MongoClient(mongo.connection_uri, **mongo.client_options()) as client:
        db = client[mongo.database]
        matched = checked = 0
        for doc in db[names["alerts_aux"]].find({"_id": {"$in": objects}},
                                                {"cross_matches": 1}):
            found = (doc.get("cross_matches") or {}).get(DEMO_CATALOG)
            if found is not None:
                checked += 1
                matched += bool(found)
        classified = sum(bool(doc.get("classifications")) for doc in db[names["alerts"]].find(
            {"_id": {"$in": candids}}, {"classifications": 1}))
    return matched, checked, classified


def _filter_passes(settings: Settings, filter_id: str, since_ms: float,
                   candids: set[int]) -> int:
    client = redis.Redis.from_url(settings.services.valkey.connection_url)
    try:
        entries = client.xrange(f"filter:{filter_id}:results", min=f"{int(since_ms)}-0")
    finally:
        client.close()
    return sum(int(json.loads(fields[b"data"])["candid"]) in candids for _, fields in entries)


def report_lines(report: DemoReport) -> list[str]:
    s = report.summary
    shares = ", ".join(f"{stage} {seconds / (sum(s.stage_seconds.values()) or 1):.0%}"
                       for stage, seconds in s.stage_seconds.items())
    lines = [
        "",
        "demo night",
        f"  alerts:          {report.alerts:,} simulated ZTF alerts of {report.objects:,} "
        f"objects; {s.stored:,} stored, {s.duplicates:,} already in the archive, "
        f"{s.repeated:,} repeated, {s.rejected} rejected",
        f"  rate:            {s.alerts_per_s:,.1f} alerts/s over {s.busy_s:.1f} s "
        f"({', '.join(report.stages) or 'decode and write only'})",
        f"  stage time:      {shares or '-'}",
    ]
    if "crossmatch" in report.stages:
        lines.append(f"  matches:         {report.objects_with_matches:,} of "
                     f"{report.objects_checked:,} objects lie near a galaxy of the "
                     f"{report.catalog_rows:,}-row catalog")
    if "classify" in report.stages:
        lines.append(f"  classifications: {report.classified:,} alerts scored by "
                     f"{', '.join(report.models) or 'no model'}")
    if "filter" in report.stages:
        lines.append(f"  filter passes:   {report.filter_passes:,} alerts passed "
                     f"{DEMO_FILTER_NAME!r}")
    lines += [f"  note:            {note}" for note in report.notes]
    lines += [
        "",
        "where to look next",
        f"  API:        {API_COMMAND}   -> {report.api_url}/docs",
        f"  archive:    pymongo.MongoClient('{report.mongo_uri}')['{report.database}']"
        "['ZTF_alerts'] (in a notebook or a Python shell)",
        f"  dashboard:  {report.dashboard or 'the boom_flow page of the Dask dashboard'} "
        "(live while a pipeline runs: boom-flow run / replay print it)",
        "  notebooks:  notebooks/ (replay a night, explore an object, backtest a filter, "
        "train a classifier)",
        "  live:       boom-flow run graphs/ztf.yaml   (ZTF's nightly Kafka topics)",
    ]
    if report.filter_id:
        lines += [f"  filter:     boom-flow filters results {report.filter_id}   (what passed; "
                  "the demo filter stays active: `boom-flow filters deactivate` stops it)"]
    return lines
