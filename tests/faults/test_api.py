"""Abuse of the API while other users work, against a real API process: the ReDoS
request, password guessing, oversized bodies. The figure that matters is how long
another user's queries waited meanwhile."""

from __future__ import annotations

import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pymongo
import pytest

from boom_flow.api.users import UserStore
from boom_flow.core import RawPacket
from boom_flow.simulate import NightSpec, simulate_night
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.surveys import build_survey
from tests.api.conftest import api_process
from tests.faults.conftest import Figures

pytestmark = [pytest.mark.faults, pytest.mark.services, pytest.mark.timeout(300)]

PASSWORDS = {"attacker": "attacker-pw", "other": "other-pw", "victim": "victim-pw"}
#: The request of issue 16 that froze the archive for 91 s.
REDOS = {"catalog_name": "ZTF_alerts", "max_time_ms": 2000, "pipeline": [
    {"$limit": 2000},
    {"$project": {"m": {"$regexMatch": {"input": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
                                         "regex": "^(a+)+$"}}}}]}
REDOS_VARIANTS = [
    ("/queries/pipeline", REDOS),
    ("/queries/find", {"catalog_name": "ZTF_alerts",
                       "filter": {"objectId": {"$regex": "^(a|a?)+$"}}}),
    ("/queries/count", {"catalog_name": "ZTF_alerts",
                        "filter": {"$expr": {"$regexMatch": {"input": "$objectId",
                                                              "regex": "(x+x+)+y"}}}}),
    ("/queries/pipeline", {"catalog_name": "ZTF_alerts", "pipeline": [{"$project": {
        "m": {"$regexFindAll": {"input": "$objectId", "regex": "(\\w+)*\\1"}}}}]}),
]


@pytest.fixture(scope="module")
def api(fault_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[str, dict[str, str]]]:
    database = f"faults_api_{uuid.uuid4().hex[:8]}"
    environment = {**fault_environment, "BOOM_FLOW_SERVICES__MONGODB__DATABASE": database,
                   "BOOM_FLOW_API__SECRET_KEY": uuid.uuid4().hex,
                   "BOOM_FLOW_API__PASSWORD_HASH_ROUNDS": "4"}
    uri = f"mongodb://127.0.0.1:{fault_environment['BOOM_FLOW_SERVICES__MONGODB__PORT']}/" \
          "?directConnection=true"
    mongo = pymongo.MongoClient(uri)
    db = mongo[database]
    ensure_indexes(db, "ztf")
    packets = [RawPacket(a.packet, "faults") for a in
               simulate_night(NightSpec(survey="ztf", n_alerts=300, seed=107))]
    write_batch(db, build_survey("ztf").decode(packets))
    store = UserStore(db, rounds=4)
    store.ensure_indexes()
    for name, password in PASSWORDS.items():
        store.create(username=name, password=password, permissions={"ZTF": [1]})
    try:
        with api_process(environment, tmp_path_factory.mktemp("faults_api") / "api.log") as url:
            tokens = {}
            for name, password in PASSWORDS.items():
                answer = httpx.post(url + "/auth", data={"username": name,
                                                         "password": password})
                tokens[name] = answer.json()["access_token"]
            yield url, tokens
    finally:
        mongo.drop_database(database)
        mongo.close()


class Watcher:
    """Another user querying in a loop; records each query's time."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=120,
                                   headers={"Authorization": f"Bearer {token}"})
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        body = {"catalog_name": "ZTF_alerts", "filter": {"candidate.magpsf": {"$lt": 19}},
                "projection": {"objectId": 1}, "limit": 20}
        while not self._stop.is_set():
            started = time.perf_counter()
            self.statuses.append(self.client.post("/queries/find", json=body).status_code)
            self.latencies.append(time.perf_counter() - started)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(150)
        self.client.close()


def _baseline(url: str, token: str) -> float:
    with Watcher(url, token) as watcher:
        time.sleep(2)
    return statistics.median(watcher.latencies)


def test_the_redos_request_while_another_user_queries(
        api: tuple[str, dict[str, str]], figures: Figures) -> None:
    url, tokens = api
    baseline = _baseline(url, tokens["other"])
    answers = []
    with Watcher(url, tokens["other"]) as watcher, httpx.Client(
            base_url=url, timeout=120,
            headers={"Authorization": f"Bearer {tokens['attacker']}"}) as attacker:
        time.sleep(0.5)
        for _ in range(3):
            for route, body in REDOS_VARIANTS:
                started = time.perf_counter()
                response = attacker.post(route, json=body)
                answers.append((response.status_code, time.perf_counter() - started,
                                response.json()["message"]))
        time.sleep(0.5)
    assert {status for status, _, _ in answers} == {400}, answers
    assert all("unsafe regular expression" in message for _, _, message in answers)
    assert set(watcher.statuses) == {200}
    longest = max(watcher.latencies)
    assert longest < 5.0, longest  # issue 16: 91 s
    figures.add("the ReDoS request (and 3 variants) while another user queries",
                requests=len(answers), answered=f"400 in at most "
                f"{max(t for _, t, _ in answers):.2f} s",
                other_user_queries=len(watcher.latencies),
                longest_block_s=round(longest, 3), baseline_query_s=round(baseline, 3),
                notes="the pattern is refused before it reaches the database; the other "
                      "user's queries all answered 200")


def _raw_post(url: str, token: str, path: str, length: int) -> tuple[str, float]:
    """Headers of a POST declaring ``length`` body bytes, none sent: the status line and
    the time to it."""
    host, port = url.removeprefix("http://").split(":")
    started = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}"
                    f"\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
                    "\r\n".encode())
        status = raw.recv(65536).decode().split("\r\n", 1)[0]
    return status, time.perf_counter() - started


def test_oversized_bodies_are_refused_before_they_are_read(
        api: tuple[str, dict[str, str]], figures: Figures) -> None:
    url, tokens = api
    with Watcher(url, tokens["other"]) as watcher:
        declared, declared_s = _raw_post(url, tokens["attacker"], "/queries/find", 200 * 2**20)
        names = ",".join(f'"{i:020d}"' for i in range(2_300_000))  # ~50 MB of $in
        body = '{"catalog_name": "ZTF_alerts", "filter": {"objectId": {"$in": [' + names + "]}}}"
        started = time.perf_counter()
        try:
            sent = httpx.post(url + "/queries/find", content=body, timeout=60, headers={
                "Authorization": f"Bearer {tokens['attacker']}",
                "Content-Type": "application/json"}).status_code
        except httpx.TransportError:  # the server answered and closed while we still sent
            sent = 413
        sent_s = time.perf_counter() - started
    assert declared.startswith("HTTP/1.1 413"), declared
    assert sent == 413
    assert set(watcher.statuses) == {200}
    figures.add("oversized bodies (200 MB declared, a 50 MB $in)",
                answered=f"413 in {declared_s:.2f} s and {sent_s:.2f} s",
                longest_block_s=round(max(watcher.latencies), 3),
                notes=f"refused from Content-Length before reading (api.max_body_bytes "
                      f"16 MiB); body of {len(body) / 2**20:.0f} MB")


def test_brute_force_login(api: tuple[str, dict[str, str]], figures: Figures) -> None:
    url, tokens = api
    statuses = []
    started = time.perf_counter()
    with Watcher(url, tokens["other"]) as watcher:
        for i in range(40):
            response = httpx.post(url + "/auth", data={"username": "victim",
                                                       "password": f"guess-{i}"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
    guessing_s = time.perf_counter() - started
    refused = statuses.count(429)
    assert statuses.count(401) == 10 and refused == 30  # api.login_failures_per_user
    assert set(watcher.statuses) == {200}
    figures.add("brute-force login: 40 wrong passwords for one user",
                answered=f"{statuses.count(401)} x 401, then {refused} x 429 with "
                         f"Retry-After, in {guessing_s:.1f} s",
                longest_block_s=round(max(watcher.latencies), 3),
                notes="only 10 bcrypt checks were made; an unknown username costs the "
                      "same check as a known one; other users' tokens kept working")
