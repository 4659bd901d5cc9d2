"""The benchmark's Dask cluster: the scheduler and each worker in processes of their own.

A LocalCluster runs its scheduler (and the workers' nannies) inside the driver
process, so the CPU the scheduler spends could not be told from the driver's. The
benchmark therefore starts the same layout a deployment has: a scheduler process and
one nanny process per worker (each with its worker process under it), through
``distributed``'s ``SubprocessCluster``, sized as ``bench_settings`` says. Each role's
process id is returned so that its CPU can be read from outside (``bench.cpu``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
from distributed import Client
from distributed.deploy.subprocess import SubprocessCluster

from boom_flow.bench.cpu import DRIVER, SCHEDULER, WORKER_PREFIX
from boom_flow.config.model import DaskSettings
from boom_flow.pipeline.cluster import dask_client


@contextmanager
def bench_cluster(settings: DaskSettings) -> Iterator[tuple[Client, dict[str, int]]]:
    """A client and ``{role: pid}`` of the driver, the scheduler and every worker (its
    nanny, whose process tree holds the worker). With a configured scheduler address
    the cluster is someone else's: only the driver is measured."""
    if settings.scheduler_address:
        with dask_client(settings) as client:
            yield client, {DRIVER: os.getpid()}
        return
    with config_environment(settings.worker_config()), SubprocessCluster(
            host="127.0.0.1", scheduler_port=0, dashboard_address=":0",
            n_workers=settings.n_workers, threads_per_worker=settings.threads_per_worker,
            worker_kwargs={"memory_limit": settings.memory_limit}) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(settings.n_workers)
        yield client, cluster_pids(client)


@contextmanager
def config_environment(config: dict[str, object]) -> Iterator[None]:
    """``config`` as ``DASK_*`` variables for the processes started meanwhile (the
    subprocesses read their dask config from the environment)."""
    names = {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): repr(value)
             for key, value in config.items()}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cluster_pids(client: Client) -> dict[str, int]:
    """The driver, the scheduler and each worker's nanny (or the worker itself when
    it has no nanny of its own)."""
    pids = {DRIVER: os.getpid()}
    scheduler = int(client.run_on_scheduler(os.getpid))
    if scheduler != os.getpid():
        pids[SCHEDULER] = scheduler
    for address, pid in sorted(client.run(os.getpid).items()):
        parent = psutil.Process(pid).parent()
        own_nanny = parent is not None and parent.pid not in (os.getpid(), 1)
        pids[WORKER_PREFIX + address] = parent.pid if own_nanny else pid
    return pids

