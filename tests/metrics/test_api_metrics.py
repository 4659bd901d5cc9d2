"""The API counts requests by route template and status, and its readiness probe asks
the database (``boom-flow api`` in a subprocess)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.metrics.scrape import scrape, value
from tests.processes import running, start

SECRETS = {"BOOM_FLOW_API__SECRET_KEY": "k" * 40, "BOOM_FLOW_API__ADMIN_PASSWORD": "admin-pw",
           "BOOM_FLOW_API__PASSWORD_HASH_ROUNDS": "4"}


def _api(env: dict[str, str], tmp_path: Path, name: str) -> tuple[str, object]:
    port = free_port()
    process = start(name, ["boom-flow", "api", "--port", str(port), "--log-level", "warning"],
                    {**env, **SECRETS}, tmp_path)
    return f"http://127.0.0.1:{port}", process


@pytest.mark.services
def test_requests_are_counted_by_route_template_and_status(
        environment: dict[str, str], mongo_db: object, tmp_path: Path) -> None:
    url, process = _api(environment, tmp_path, "api")
    with running([process]):
        process.wait_http(url + "/")
        assert httpx.get(url + "/").status_code == 200
        assert httpx.post(url + "/auth", data={"username": "admin", "password": "wrong"}
                          ).status_code == 401
        token = httpx.post(url + "/auth", data={"username": "admin", "password": "admin-pw"}
                           ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(url + "/surveys/ztf/objects/ZTF24aaaaaaa", headers=headers
                         ).status_code == 404
        assert httpx.get(url + "/no/such/route").status_code == 404
        ready = httpx.get(url + "/health/ready")
        assert ready.status_code == 200 and ready.json()["data"] == {"database": True}
        samples = scrape(url + "/metrics")
    requests = "boom_flow_api_requests_total"
    assert value(samples, requests, method="GET", route="/", status="200") >= 2
    assert value(samples, requests, method="POST", route="/auth", status="401") == 1
    assert value(samples, requests, method="POST", route="/auth", status="200") == 1
    # The template, not the object id: one series however many objects are asked for.
    assert value(samples, requests, method="GET", route="/surveys/{survey}/objects/{object_id}",
                 status="404") == 1
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    assert value(samples, "boom_flow_api_request_seconds_count", method="POST",
                 route="/auth") == 2


@pytest.mark.services
def test_readiness_fails_when_the_database_stops_answering(tmp_path: Path) -> None:
    db_port = free_port()
    command = ["secantusd-py", "--host", "127.0.0.1", "--port", str(db_port),
               "--storage-path", ":memory:"]
    processes = [start("secantusd", command, {}, tmp_path)]
    url, api = _api({"BOOM_FLOW_SERVICES__MONGODB__PORT": str(db_port)}, tmp_path, "api")
    processes.append(api)
    with running(processes):
        api.wait_http(url + "/", seconds=90)
        assert httpx.get(url + "/health/ready", timeout=10).status_code == 200
        processes[0].stop()
        response = httpx.get(url + "/health/ready", timeout=10)
        assert response.status_code == 503
        assert response.json()["data"] == {"database": False}
        assert httpx.get(url + "/").status_code == 200  # alive, only not ready
        # Ready again once the database is back (and the API can close its client).
        processes.append(start("secantusd-again", command, {}, tmp_path))
        api.wait_http(url + "/health/ready", seconds=30)
        api.stop()
