"""The parts of the workload that belong to optional stages: the galaxy catalog the
crossmatch reads, the filter copies, and where filter results are found.

Each part is set up only when its stage is installed (``boom_flow.stages.STAGES``); the report
says which stages ran, so a run without one of them is never mistaken for the full
reference workload.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boom_flow.bench.workload import SHARED_DATA, WorkloadSpec
from boom_flow.config import Settings

#: The catalog the benchmark matches against: NED-like (positions and redshifts),
#: with BOOM's NED rule (300" search, 30 kpc, 300" below z = 0.01).
CATALOG = "NED"
CATALOG_RULE = {"catalog": CATALOG, "radius": 300.0, "use_distance": True,
                "distance_key": "z", "distance_max": 30.0, "distance_max_near": 300.0,
                "projection": {}}


@dataclass
class Setup:
    """What preparation produced: the settings to run with, per-stage graph params,
    the filters created, parameters for the report, and what to remove afterwards."""

    settings: Settings
    stage_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    filter_ids: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def cleanup(self) -> None:
        for step in reversed(self.cleanups):
            step()


def prepare(setup: Setup, spec: WorkloadSpec, stages: list[str], run_id: str,
            progress: Callable[[str], None]) -> Setup:
    if "crossmatch" in stages and spec.catalog_rows > 0:
        prepare_catalog(setup, spec, progress)
    if "classify" in stages and spec.survey == "ztf":
        setup.parameters["models"] = usable_models(setup.settings)
    if "filter" in stages and spec.n_filters > 0:
        prepare_filters(setup, spec, run_id, progress)
    return setup


# -- crossmatch -----------------------------------------------------------------------

def prepare_catalog(setup: Setup, spec: WorkloadSpec, progress: Callable[[str], None]) -> None:
    """Write the simulated catalog into a temporary crossmatch store and point the
    configuration at it."""
    started = time.monotonic()
    progress(f"catalog: simulating and partitioning {spec.catalog_rows:,} galaxies")
    root = Path(tempfile.mkdtemp(prefix="boom-flow-bench-catalogs-"))
    setup.cleanups.append(lambda: shutil.rmtree(root, ignore_errors=True))
    setup.settings, rows = with_galaxy_catalog(setup.settings, spec.catalog_rows, spec.seed,
                                               root, survey=spec.survey)
    setup.parameters.update({
        "catalog": f"{CATALOG} (simulated galaxies, 300\" with the distance rule)",
        "catalog_rows_ingested": rows,
        "catalog_ingest_s": round(time.monotonic() - started, 2),
    })


def with_galaxy_catalog(settings: Settings, n_rows: int, seed: int, root: Path,
                        name: str = CATALOG, hosts: Any = None, survey: str = "ztf"
                        ) -> tuple[Settings, int]:
    """Simulate a NED-like catalog, write it as catalog ``name`` under ``root`` (the
    Parquet partitions the crossmatch reads; the MongoDB copy that ``catalogs ingest``
    also makes is for API users and is never read by the pipeline), and return the
    settings matching ``survey``'s new objects against it alone, with the rows written.
    ``hosts`` (a DataFrame with the catalog's columns) is appended: galaxies placed
    under chosen objects, as real transients have hosts in NED."""
    import pyarrow as pa

    from boom_flow.config.model import CatalogMatchSettings
    from boom_flow.crossmatch.store import stage_catalog
    from boom_flow.crossmatch.tables import sort_rows
    from boom_flow.simulate import simulate_galaxy_catalog

    frame = simulate_galaxy_catalog(n_rows, seed=seed)
    if hosts is not None and len(hosts):
        import pandas as pd

        frame = pd.concat([frame, hosts], ignore_index=True)
    crossmatch = settings.crossmatch
    rows = sort_rows(pa.Table.from_pandas(frame, preserve_index=False), "ra", "dec")
    stage_catalog(root, name, rows, source="boom-flow (simulated)",
                  max_rows=crossmatch.partition_max_rows).commit()
    rule = CatalogMatchSettings.model_validate({**CATALOG_RULE, "catalog": name})
    updated = crossmatch.model_copy(update={"catalogs_dir": root, survey: [rule]})
    return settings.model_copy(update={"crossmatch": updated}), rows.table.num_rows


# -- classify -------------------------------------------------------------------------

def usable_models(settings: Settings) -> list[str]:
    """The ZTF models that load from the configured folder (the report lists them)."""
    from boom_flow.ml.registry import check_models

    specs = [spec.model_dump(mode="json") for spec in settings.models.ztf]
    usable, _ = check_models(specs, str(settings.models.models_dir))
    return [spec["name"] for spec in usable]


# -- filters --------------------------------------------------------------------------

#: A filter of the project's own, used when ``cats150`` (real data, kept outside the
#: project) is not at hand: real-looking, positive, not a known solar-system object.
DEMO_FILTER: list[dict[str, Any]] = [
    {"$match": {"candidate.drb": {"$gt": 0.5}, "candidate.rb": {"$gte": 0.3},
                "candidate.isdiffpos": True, "candidate.nbad": {"$lt": 5},
                "$or": [{"candidate.ssdistnr": {"$lt": 0}},
                        {"candidate.ssdistnr": {"$gte": 12}},
                        {"candidate.ssdistnr": None}]}},
    {"$project": {"objectId": 1, "annotations": {
        "magpsf": "$candidate.magpsf", "drb": "$candidate.drb",
        "ndethist": "$candidate.ndethist"}}},
]


#: The LSST counterpart of ``DEMO_FILTER`` (``lsst.json``'s cuts on a Rubin candidate).
DEMO_LSST_FILTER: list[dict[str, Any]] = [
    {"$match": {"candidate.reliability": {"$gt": 0.8}, "candidate.snr": {"$gt": 5.0},
                "candidate.magpsf": {"$lte": 18.5}}},
    {"$project": {"objectId": 1, "annotations": {"mag_now": "$candidate.magpsf"}}},
]
#: Per survey: the shared filter the benchmark copies, and the fallback of its own.
BENCHMARK_FILTERS = {"ztf": ("cats150.pipeline.json", DEMO_FILTER),
                     "lsst": ("lsst.json", DEMO_LSST_FILTER)}


def benchmark_filter(survey: str = "ztf") -> tuple[str, str]:
    """``(pipeline JSON, where it came from)``: the survey's real filter from the shared
    data when it is there (ZTF ``cats150``, LSST ``lsst.json``), else the project's own."""
    file_name, fallback = BENCHMARK_FILTERS[survey]
    path = SHARED_DATA / "filters" / file_name
    stem = file_name.split(".")[0]
    if path.is_file():
        return path.read_text(), f"{stem} (../shared/data/filters/{file_name})"
    return json.dumps(fallback), f"boom_flow demo filter ({stem} not found)"


def create_filters(settings: Settings, copies: int, pipeline: str, name: str,
                   user_id: str = "bench", numbered: bool = True, survey: str = "ztf"
                   ) -> list[str]:
    """``copies`` active filters of ``survey`` with ``pipeline`` (ZTF: all programids);
    their ids."""
    import pymongo
    import redis

    from boom_flow.filters.store import FilterStore

    mongo = settings.services.mongodb
    with pymongo.MongoClient(mongo.connection_uri, **mongo.client_options()) as client:
        notifier = redis.Redis.from_url(settings.services.valkey.connection_url)
        try:
            store = FilterStore(client[mongo.database], notifier)
            return [store.create(name=f"{name} #{i + 1}" if numbered else name,
                                 survey=survey.upper(), user_id=user_id,
                                 permissions={"ZTF": [1, 2, 3]}, pipeline=pipeline)["_id"]
                    for i in range(copies)]
        finally:
            notifier.close()


def prepare_filters(setup: Setup, spec: WorkloadSpec, run_id: str,
                    progress: Callable[[str], None]) -> None:
    pipeline, origin = benchmark_filter(spec.survey)
    progress(f"filters: {spec.n_filters} copies of {origin.split(' (')[0]}")
    ids = create_filters(setup.settings, spec.n_filters, pipeline, f"bench {run_id}",
                         survey=spec.survey)
    setup.filter_ids = ids
    settings = setup.settings
    setup.cleanups.append(lambda: drop_filter_outputs(settings, ids))
    setup.parameters.update({"filters_active": len(ids), "filter": origin})


def drop_filter_outputs(settings: Settings, filter_ids: list[str]) -> None:
    """Remove the benchmark filters' Valkey streams and redelivery keys."""
    import redis

    client = redis.Redis.from_url(settings.services.valkey.connection_url)
    try:
        for filter_id in filter_ids:
            client.delete(f"filter:{filter_id}:results")
            keys = list(client.scan_iter(match=f"boom_flow:results:ZTF:{filter_id}:*",
                                         count=10_000))
            for start in range(0, len(keys), 10_000):
                client.delete(*keys[start:start + 10_000])
    finally:
        client.close()


def drop_database(settings: Settings) -> None:
    """Remove the benchmark's own database (alerts, filters, catalogs collections)."""
    import pymongo

    mongo = settings.services.mongodb
    with pymongo.MongoClient(mongo.connection_uri, **mongo.client_options()) as client:
        client.drop_database(mongo.database)


def filter_result_times(settings: Settings, setup: Setup, since_ms: float) -> dict[int, float]:
    """alert id -> when its first filter result was published (ms: the Valkey stream
    entry's id, the server's clock at ``XADD``), for results after ``since_ms``."""
    if not setup.filter_ids:
        return {}
    import redis

    first: dict[int, float] = {}
    client = redis.Redis.from_url(settings.services.valkey.connection_url)
    try:
        for filter_id in setup.filter_ids:
            for entry_id, fields in client.xrange(f"filter:{filter_id}:results",
                                                  min=f"{int(since_ms)}-0"):
                at = float(entry_id.decode().split("-")[0])
                candid = int(json.loads(fields[b"data"])["candid"])
                first[candid] = min(at, first.get(candid, at))
    finally:
        client.close()
    return first
