"""Shared fixtures: the three real servers once per test run, a Dask cluster, data paths.

The servers are started by the project's own launcher (``LocalStack``) on free
ports in a temporary state directory, exactly as ``boom-flow services up`` starts
them, and stopped at the end of the run.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymongo
import pytest
import redis

from boom_flow.config import Settings, load_settings, shared_data_dir
from boom_flow.services import LocalStack

SHARED_DATA = shared_data_dir()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environ() -> dict[str, str]:
    """This process's environment for a child ``boom-flow`` process, without
    ``BOOM_FLOW_SHARED_DATA``: it locates the test data and is no configuration key
    (the configuration refuses unknown ``BOOM_FLOW_*`` names)."""
    return {k: v for k, v in os.environ.items() if k != "BOOM_FLOW_SHARED_DATA"}


def embedded_environment(state_dir: Path) -> dict[str, str]:
    """Environment overrides for an embedded stack on free ports under ``state_dir``."""
    return {
        "BOOM_FLOW_SERVICES__STATE_DIR": str(state_dir),
        "BOOM_FLOW_SERVICES__MONGODB__PORT": str(free_port()),
        "BOOM_FLOW_SERVICES__KAFKA__PORT": str(free_port()),
        "BOOM_FLOW_SERVICES__VALKEY__PORT": str(free_port()),
        "BOOM_FLOW_DASK__DASHBOARD_PORT": "0",
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the shared data (through the fixture, directly or not) is
    marked ``shared_data``: CI's second pass, with the folder hidden, selects them by
    that mark (``.ci/run``)."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (set BOOM_FLOW_SHARED_DATA)")
    return SHARED_DATA


@contextmanager
def running_stack(state_dir: Path) -> Iterator[dict[str, str]]:
    """An embedded stack of its own under ``state_dir``; yields its environment."""
    environment = embedded_environment(state_dir)
    stack = LocalStack(load_settings(environ=environment))
    stack.up()
    try:
        yield environment
    finally:
        stack.down()


@pytest.fixture(scope="session")
def stack_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Start MongoDB (SecantusDB), Kafka (Tansu) and Valkey once for the whole run."""
    with running_stack(tmp_path_factory.mktemp("stack")) as environment:
        yield environment


@pytest.fixture(scope="session")
def stack_settings(stack_environment: dict[str, str]) -> Settings:
    return load_settings(environ=stack_environment)


@pytest.fixture
def environment(stack_environment: dict[str, str]) -> dict[str, str]:
    """Configuration overrides for the running stack, with a database of this test's own."""
    return {
        **stack_environment,
        "BOOM_FLOW_SERVICES__MONGODB__DATABASE": f"test_{uuid.uuid4().hex[:12]}",
    }


@pytest.fixture
def settings(environment: dict[str, str]) -> Settings:
    return load_settings(environ=environment)


@pytest.fixture
def mongo_db(settings: Settings) -> Iterator[pymongo.database.Database]:
    mongo = settings.services.mongodb
    client: pymongo.MongoClient = pymongo.MongoClient(mongo.connection_uri)
    try:
        yield client[mongo.database]
    finally:
        client.drop_database(mongo.database)
        client.close()


@pytest.fixture
def valkey(stack_settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack_settings.services.valkey.connection_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    """A two-worker LocalCluster (processes) shared by the tests that need Dask."""
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        memory_limit="2GiB",
    ) as cluster, Client(cluster) as client:
        yield client
