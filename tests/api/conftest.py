"""One API server (``boom-flow api`` in a subprocess) over one archive for all API tests.

The archive holds every real ZTF packet of ``../shared/data`` plus the programid 2/3
copies of ``data.py``, decoded by ``boom_flow.surveys`` and stored by
``boom_flow.storage.write_batch``. Four accounts: the configured admin, ``public``
(ZTF programid 1), ``partner`` (1, 2) and ``nobody`` (no ZTF rights).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from pymongo.database import Database

from boom_flow.api.users import UserStore
from boom_flow.storage import ensure_indexes, write_batch
from tests.api.data import decode, private_copies, real_packets
from tests.conftest import child_environ, free_port

ADMIN_PASSWORD = "admin-secret-password"
PASSWORDS = {"public": "public-pw", "partner": "partner-pw", "nobody": "nobody-pw"}
PERMISSIONS = {"public": {"ZTF": [1]}, "partner": {"ZTF": [1, 2]}, "nobody": {}}
#: Small caps, so the tests can reach them.
LIMITS = {"MAX_LIMIT": "500", "MAX_RESPONSE_BYTES": "8000000", "MAX_CONE_POSITIONS": "10000",
          "MAX_CONCURRENT_QUERIES": "3"}
SLOW_DOCS = 3000


@dataclass
class Api:
    url: str
    db: Database
    tokens: dict[str, str]
    environment: dict[str, str]

    def client(self, user: str | None = "public") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _ingest(db: Database, shared: Path) -> None:
    ensure_indexes(db, "ztf")
    write_batch(db, decode(real_packets(shared)))
    write_batch(db, decode(private_copies(shared)))
    # An unindexed catalog whose scans are slow enough to exceed small time budgets.
    db.slow_catalog.insert_many([{"_id": i, "value": i % 97, "tag": f"t{i % 13}"}
                                 for i in range(SLOW_DOCS)])


def _wait_healthy(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"boom-flow api exited with {process.returncode}")
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("boom-flow api did not become healthy")


def _token(url: str, username: str, password: str) -> str:
    response = httpx.post(url + "/auth", data={"username": username, "password": password})
    response.raise_for_status()
    return response.json()["access_token"]


@pytest.fixture(scope="package")
def api_server(stack_environment: dict[str, str], shared_data: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    database = f"api_{uuid.uuid4().hex[:10]}"
    environment = {
        **stack_environment,
        "BOOM_FLOW_SERVICES__MONGODB__DATABASE": database,
        "BOOM_FLOW_API__SECRET_KEY": uuid.uuid4().hex,
        "BOOM_FLOW_API__ADMIN_PASSWORD": ADMIN_PASSWORD,
        "BOOM_FLOW_API__PASSWORD_HASH_ROUNDS": "4",
        **{f"BOOM_FLOW_API__{key}": value for key, value in LIMITS.items()},
    }
    mongo = pymongo.MongoClient(
        f"mongodb://127.0.0.1:{stack_environment['BOOM_FLOW_SERVICES__MONGODB__PORT']}/"
        "?directConnection=true")
    db = mongo[database]
    _ingest(db, shared_data)
    store = UserStore(db, rounds=4)
    store.ensure_indexes()
    for name, password in PASSWORDS.items():
        store.create(username=name, password=password, permissions=PERMISSIONS[name])
    try:
        with api_process(environment, tmp_path_factory.mktemp("api") / "api.log") as url:
            tokens = {name: _token(url, name, password) for name, password in PASSWORDS.items()}
            tokens["admin"] = _token(url, "admin", ADMIN_PASSWORD)
            yield Api(url=url, db=db, tokens=tokens, environment=environment)
    finally:
        mongo.drop_database(database)
        mongo.close()


@contextmanager
def api_process(environment: dict[str, str], log_path: Path) -> Iterator[str]:
    """``boom-flow api`` as a process of its own on a free port; yields its URL."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "boom_flow", "api", "--port", str(port),
             "--log-level", "warning"],
            env={**child_environ(), **environment}, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def envelope(response: httpx.Response, status: int = 200) -> Any:
    """The ``data`` of a successful response (asserting the status and envelope)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "data"} and isinstance(body["message"], str)
    return body["data"]


def error(response: httpx.Response, status: int) -> str:
    """The message of an error response (asserting the status and the error shape)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message"} and body["message"], body
    return body["message"]
