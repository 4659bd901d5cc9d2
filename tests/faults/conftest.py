"""The fault suite's own stack (its servers are stopped and restarted by the tests, so
they cannot be the session's), a one-worker Dask cluster, and the figures file.

Every case records what was produced, stored, doubled and published in
``FIGURES`` (``RELIABILITY_FIGURES``, default ``bench-results/faults.json``);
``benchmarks/reliability.py`` renders RELIABILITY.md from it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boom_flow.config import Settings, load_settings
from boom_flow.services import LocalStack
from tests.conftest import running_stack
from tests.faults.helpers import Background, Runs

FIGURES = Path(os.environ.get("RELIABILITY_FIGURES",
                              Path(__file__).resolve().parents[2] / "bench-results"
                              / "faults.json"))

pytestmark = pytest.mark.faults


class Figures:
    """The cases' figures, written once the suite is done."""

    def __init__(self) -> None:
        self.cases: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def add(self, case: str, **figures: Any) -> None:
        self.cases.append({"case": case, **figures})

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "system": platform.platform()},
            "suite_seconds": round(time.monotonic() - self.started, 1),
            "cases": self.cases}, indent=2) + "\n")


@pytest.fixture(scope="package")
def figures() -> Iterator[Figures]:
    collected = Figures()
    yield collected
    if collected.cases:
        collected.write(FIGURES)


@pytest.fixture(scope="package")
def fault_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of a stack of its own (state in a temporary folder)."""
    with running_stack(tmp_path_factory.mktemp("faults") / "state") as environment:
        yield {**environment, "BOOM_FLOW_DASK__N_WORKERS": "1",
               "BOOM_FLOW_BATCH__MAX_ALERTS": "10", "BOOM_FLOW_BATCH__MAX_MS": "500"}


@pytest.fixture(scope="package")
def fault_stack(fault_environment: dict[str, str]) -> LocalStack:
    return LocalStack(load_settings(environ=fault_environment))


@pytest.fixture(scope="package")
def fault_client() -> Iterator[Any]:
    """One worker with a nanny (a killed worker is restarted), for in-process runs."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0", memory_limit="3GiB") as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture
def runs() -> Iterator[Runs]:
    """Starts ``boom-flow run`` processes; kills and reaps what is left at the end."""
    started = Runs()
    yield started
    started.kill_all()


@pytest.fixture
def background() -> Iterator[Background]:
    """Starts in-process runs in threads; stops and joins them at the end."""
    calls = Background()
    yield calls
    calls.finish()


def case_settings(environment: dict[str, str], database: str) -> Settings:
    return load_settings(environ={**environment,
                                  "BOOM_FLOW_SERVICES__MONGODB__DATABASE": database})
