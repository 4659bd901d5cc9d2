"""The LocalCluster a pipeline starts: its workers run Dask's statistical profiler only
when ``dask.worker_profile`` asks for it (it costs CPU on every alert)."""

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
