"""The Dask cluster a pipeline runs on: an existing scheduler, or a LocalCluster whose
dashboard serves the boom_flow page (``boom_flow.dashboard``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster

from boom_flow.config.model import DaskSettings
from boom_flow.dashboard import enable_page


@contextmanager
def dask_client(settings: DaskSettings) -> Iterator[Client]:
    if settings.scheduler_address:
        with Client(settings.scheduler_address) as client:
            yield client
        return
    # Port 0 picks a free port (tests, several pipelines on one machine).
    dashboard = f"127.0.0.1:{settings.dashboard_port}"
    # The scheduler reads its route modules when it starts: the boom_flow page is
    # among them for the cluster's life (a deployed scheduler lists it in its config).
    # The nannies hand the config they start with to their worker processes.
    with enable_page(), dask.config.set(settings.worker_config()), LocalCluster(
        n_workers=settings.n_workers,
        threads_per_worker=settings.threads_per_worker,
        memory_limit=settings.memory_limit,
        dashboard_address=dashboard,
        host="127.0.0.1",
    ) as cluster, Client(cluster) as client:
        yield client
