"""A notebook's session: the services, a Dask cluster with the boom_flow page, the archive.

``Session.start()`` starts its own embedded stack (MongoDB, Kafka, Valkey) on free ports
in a temporary folder, so a notebook runs anywhere, in CI beside other runs, and
disturbs no stack the user already has; ``Session.start(use_running=True)`` uses the
configured services instead (those ``boom-flow services up`` started). ``close()``
stops what the session started and nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pymongo
import redis
from tqdm import tqdm

from boom_flow.api.rights import Rights
from boom_flow.config import Settings, load_settings
from boom_flow.dashboard import page_address
from boom_flow.explore.archive import Archive
from boom_flow.explore.views import NightReplay, table_html

#: A notebook's cluster (a laptop's worth, small enough for CI) and small batches, so
#: a short night is still several batches on the dashboard.
NOTEBOOK_DASK = {"BOOM_FLOW_DASK__N_WORKERS": "1", "BOOM_FLOW_DASK__THREADS_PER_WORKER": "2",
                 "BOOM_FLOW_DASK__MEMORY_LIMIT": "3GiB", "BOOM_FLOW_BATCH__MAX_ALERTS": "50"}
#: ``running``: ``Session.start()`` uses the configured services instead of its own
#: (how CI runs every notebook against one test stack, each in a database of its own).
#: Not ``BOOM_FLOW_*``: that prefix is the configuration's, which refuses unknown keys.
SERVICES_VARIABLE = "BOOM_NOTEBOOK_SERVICES"


@dataclass
class TrainedModel:
    """An XGBoost artifact written by ``boom-flow models train``, with what it printed."""

    name: str
    path: Path
    features: tuple[str, ...]
    metrics: dict[str, float]
    output: str

    def _repr_html_(self) -> str:
        rows = {"file": self.path, "features": ", ".join(self.features),
                **{k: round(v, 4) for k, v in self.metrics.items()}}
        return table_html(rows, f"model {self.name}")


class Session:
    """Services, cluster and archive for a notebook.

    >>> from boom_flow.explore import Session          # doctest: +SKIP
    >>> session = Session.start()                      # doctest: +SKIP
    >>> night = session.replay_night(n_alerts=300)     # doctest: +SKIP
    >>> night.summary.stored                           # doctest: +SKIP
    300
    >>> session.close()                                # doctest: +SKIP
    """

    def __init__(self, settings: Settings, resources: ExitStack, workdir: Path) -> None:
        self.settings = settings
        self._resources = resources
        self.workdir = workdir
        self._mongo: pymongo.MongoClient = resources.enter_context(pymongo.MongoClient(
            settings.services.mongodb.connection_uri, **settings.services.mongodb.client_options()))
        self.db = self._mongo[settings.services.mongodb.database]
        self._valkey = redis.Redis.from_url(settings.services.valkey.connection_url)
        resources.callback(self._valkey.close)
        from boom_flow.pipeline.cluster import dask_client

        self.client = resources.enter_context(dask_client(settings.dask))

    @classmethod
    def start(cls, *, use_running: bool | None = None, config_path: Path | None = None
              ) -> Session:
        """A session on a stack of its own (default), or on the configured services
        (``use_running=True``, or ``BOOM_NOTEBOOK_SERVICES=running``)."""
        from boom_flow.bench.stack import temporary_stack

        if use_running is None:
            use_running = os.environ.get(SERVICES_VARIABLE, "own") == "running"
        resources = ExitStack()
        workdir = Path(tempfile.mkdtemp(prefix="boom-flow-notebook-"))
        resources.callback(shutil.rmtree, workdir, ignore_errors=True)
        try:
            if use_running:
                settings = load_settings(config_path, environ={**NOTEBOOK_DASK, **os.environ})
            else:
                settings = resources.enter_context(temporary_stack(config_path, NOTEBOOK_DASK))
            return cls(settings, resources, workdir)
        except BaseException:
            resources.close()
            raise

    def close(self) -> None:
        """Stop the cluster, and the services when the session started them."""
        self._resources.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def dashboard(self) -> str | None:
        """The boom_flow page of this session's Dask dashboard."""
        return page_address(self.client.dashboard_link)

    def archive(self, permissions: dict[str, list[int]] | None = None,
                survey: str = "ZTF") -> Archive:
        """The archive, seen with ``permissions`` (e.g. ``{"ZTF": [1]}``) or everything."""
        rights = Rights.of_user({"permissions": permissions}) if permissions is not None \
            else Rights()
        return Archive(self.db, rights, survey)

    def replay_night(self, n_alerts: int = 300, seed: int = 0, catalog_rows: int = 2000,
                     prior_nights: int = 5, progress: bool = True) -> NightReplay:
        """Simulate a ZTF night (its packets' histories reaching ``prior_nights`` back)
        and replay it through crossmatch, features, classify and the users' filters into
        the archive (``boom-flow demo``'s night); the run shows on ``session.dashboard``
        while it goes. Each seed is a night of its own date (``DEMO_NIGHT_JD + seed``):
        the same seed replays the same night, different seeds never share alerts."""
        from boom_flow.bench.demo import DEMO_NIGHT_JD, run_demo

        bar = tqdm(total=n_alerts, unit=" alerts", desc="replay", disable=not progress,
                   file=sys.stdout)
        try:
            report = run_demo(self.settings, n_alerts, seed, catalog_rows, None,
                              progress=(lambda m: bar.write(m)) if progress else (lambda m: None),
                              on_outcome=lambda outcome: bar.update(outcome.packets),
                              client=self.client, prior_nights=prior_nights,
                              night_jd=DEMO_NIGHT_JD + seed)
        finally:
            bar.close()
        return NightReplay(report)

    # -- filters ------------------------------------------------------------------------
    def create_filter(self, name: str, pipeline: list[dict[str, Any]] | str,
                      permissions: dict[str, list[int]] | None = None,
                      user_id: str = "notebook", force: bool = False) -> str:
        """Store an active ZTF filter (validated as the API does, the activation guard
        included: ``force`` passes a filter that matches more than
        ``filters.max_match_rate`` of the reference night); its id. Running pipelines
        pick it up within a batch."""
        from boom_flow.filters.store import FilterStore

        store = FilterStore(self.db, self._valkey)
        return store.create(name=name, survey="ZTF", user_id=user_id,
                            permissions=permissions or {"ZTF": [1, 2, 3]},
                            pipeline=pipeline, force=force)["_id"]

    def filter_results(self, filter_id: str, since_ms: int = 0, limit: int = 1000
                       ) -> pd.DataFrame:
        """What passed the filter (its Valkey results stream), oldest first."""
        from boom_flow.filters.publish import recent_results

        rows = recent_results(self._valkey, filter_id, since_ms, limit)
        return pd.json_normalize(rows) if rows else pd.DataFrame()

    # -- classifiers --------------------------------------------------------------------
    def alerts_table(self, fields: list[str]) -> pd.DataFrame:
        """``_id``, ``objectId`` and the ``candidate`` ``fields`` of every stored alert."""
        projection = {"objectId": 1, **{f"candidate.{name}": 1 for name in fields}}
        docs = self.db[Archive(self.db).names["alerts"]].find({}, projection)
        return pd.DataFrame([{"_id": d["_id"], "objectId": d.get("objectId"),
                              **{n: (d.get("candidate") or {}).get(n) for n in fields}}
                             for d in docs])

    def train_model(self, table: pd.DataFrame, label: str, features: list[str], name: str,
                    version: str = "1", folds: int = 3) -> TrainedModel:
        """Train an XGBoost classifier with ``boom-flow models train`` on ``table``."""
        from boom_flow.ml.training import load_artifact

        table_path = self.workdir / f"{name}-training.parquet"
        table.to_parquet(table_path)
        out = self.workdir / f"{name}.json"
        command = [sys.executable, "-m", "boom_flow", "models", "train",
                   "--table", str(table_path), "--label", label,
                   "--features", ",".join(features), "--out", str(out),
                   "--version", version, "--folds", str(folds)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"boom-flow models train failed:\n{done.stderr or done.stdout}")
        artifact = load_artifact(out)
        return TrainedModel(name, out, artifact.features, artifact.metrics, done.stdout)

    def use_model(self, model: TrainedModel) -> None:
        """Run ``model`` in the classify stage of the next replays (as listing it under
        ``models.ztf`` with ``kind: xgboost`` in the configuration does)."""
        from boom_flow.config.model import ModelSpec

        spec = ModelSpec(name=model.name, kind="xgboost", file=model.path,
                         version=str(int(time.time())))
        kept = [s for s in self.settings.models.ztf if s.name != model.name]
        models = self.settings.models.model_copy(update={"ztf": [*kept, spec]})
        self.settings = self.settings.model_copy(update={"models": models})
