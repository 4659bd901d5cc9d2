"""The LocalCluster a pipeline starts: its workers run Dask's statistical profiler only
when ``dask.worker_profile`` asks for it (it costs CPU on every alert), and every
process runs Dask's housekeeping at the intervals of ``dask.config``."""

from __future__ import annotations

import pytest

from boom_flow.config import load_settings
from boom_flow.pipeline.cluster import dask_client


@pytest.mark.parametrize("enabled", [False, True])
def test_the_workers_profile_only_when_asked(enabled: bool) -> None:
    settings = load_settings(environ={"BOOM_FLOW_DASK__N_WORKERS": "1",
                                      "BOOM_FLOW_DASK__DASHBOARD_PORT": "0",
                                      "BOOM_FLOW_DASK__WORKER_PROFILE": str(enabled).lower()})
    with dask_client(settings.dask) as client:
        sampling = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    assert list(sampling.values()) == [enabled]


def test_the_cluster_runs_dask_config_from_the_settings() -> None:
    settings = load_settings(environ={
        "BOOM_FLOW_DASK__N_WORKERS": "1", "BOOM_FLOW_DASK__DASHBOARD_PORT": "0",
        "BOOM_FLOW_DASK__CONFIG": '{"distributed.admin.tick.interval": "700ms", '
                                  '"distributed.worker.memory.monitor-interval": "300ms"}'})
    with dask_client(settings.dask) as client:
        ticks = client.run(lambda dask_worker: dask_worker.periodic_callbacks["tick"].callback_time)
        scheduler_tick = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.periodic_callbacks["tick"].callback_time)
        polls = client.run(lambda dask_worker: dask_worker.memory_manager.memory_monitor_interval,
                           nanny=True)
    assert list(ticks.values()) == [pytest.approx(700)]
    assert scheduler_tick == pytest.approx(700)
    assert list(polls.values()) == [pytest.approx(0.3)]


def test_the_default_housekeeping_is_cheaper_than_dask_s() -> None:
    config = load_settings(environ={}).dask.worker_config()
    assert config["distributed.admin.tick.interval"] == "1s"
    assert config["distributed.worker.memory.monitor-interval"] == "500ms"
