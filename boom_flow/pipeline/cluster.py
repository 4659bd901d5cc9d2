"""The Dask cluster a pipeline runs on: an existing scheduler, or a LocalCluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster

from boom_flow.config.model import DaskSettings


@contextmanager
def dask_client(settings: DaskSettings) -> Iterator[Client]:
    if settings.scheduler_address:
        with Client(settings.scheduler_address) as client:
            yield client
        return
    # Port 0 picks a free port (tests, several pipelines on one machine).
    dashboard = f"127.0.0.1:{settings.dashboard_port}"
    with LocalCluster(
        n_workers=settings.n_workers,
        threads_per_worker=settings.threads_per_worker,
        memory_limit=settings.memory_limit,
        dashboard_address=dashboard,
        host="127.0.0.1",
    ) as cluster, Client(cluster) as client:
        yield client
