"""The embedded stack launcher against the real servers: up, status, down, idempotence."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import psutil
import pymongo
import pytest
import redis

from boom_flow.config import Settings, load_settings
from boom_flow.services import LocalStack, StackError
from boom_flow.services.embedded import launch_specs, valkey_executable
from tests.conftest import embedded_environment, free_port


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def own_stack(tmp_path: Path) -> tuple[LocalStack, dict[str, str]]:
    environment = embedded_environment(tmp_path / "state")
    stack = LocalStack(load_settings(environ=environment))
    yield stack, environment
    stack.down()


def test_up_status_down_lifecycle(own_stack: tuple[LocalStack, dict[str, str]]) -> None:
    stack, environment = own_stack
    assert stack.up() == [("mongodb", "started"), ("kafka", "started"), ("valkey", "started")]
    pids = {name: process.pid for name, process in stack.managed().items()}
    assert set(pids) == {"mongodb", "kafka", "valkey"}

    statuses = {s.name: s for s in stack.status()}
    for name, pid in pids.items():
        assert statuses[name].healthy, name
        assert statuses[name].pid == pid
        assert statuses[name].mode == "embedded"
    kafka_port = environment["BOOM_FLOW_SERVICES__KAFKA__PORT"]
    assert statuses["kafka"].address == f"127.0.0.1:{kafka_port}"

    # A second `up` (even from a fresh launcher object) finds the running stack.
    again = LocalStack(load_settings(environ=environment))
    assert again.up() == [("mongodb", "running"), ("kafka", "running"), ("valkey", "running")]
    assert {n: p.pid for n, p in again.managed().items()} == pids

    assert sorted(again.down()) == ["kafka", "mongodb", "valkey"]
    for name, pid in pids.items():
        assert _gone(pid), f"{name} (pid {pid}) still running after down"
    assert not any(s.healthy for s in stack.status())
    assert again.down() == []


def test_down_stops_only_what_up_started(own_stack: tuple[LocalStack, dict[str, str]]) -> None:
    stack, _ = own_stack
    foreign_port = free_port()
    foreign = subprocess.Popen(
        [valkey_executable(), "--port", str(foreign_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        stack.up()
        stack.down()
        assert foreign.poll() is None, "a server boom-flow did not start was stopped"
    finally:
        foreign.terminate()
        foreign.wait(10)


def test_a_port_in_use_is_a_clear_error_and_leaves_nothing_running(tmp_path: Path) -> None:
    environment = embedded_environment(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        environment["BOOM_FLOW_SERVICES__VALKEY__PORT"] = str(squatter.getsockname()[1])
        stack = LocalStack(load_settings(environ=environment))
        with pytest.raises(StackError) as caught:
            stack.up()
    message = str(caught.value)
    assert "is already in use" in message
    assert "services.valkey.port" in message and "BOOM_FLOW_SERVICES__VALKEY__PORT" in message
    # mongodb and kafka were started before valkey failed: they must have been stopped.
    assert stack.managed() == {}
    assert not any(s.healthy for s in stack.status() if s.name != "valkey")


def test_mongodb_data_survives_a_restart(own_stack: tuple[LocalStack, dict[str, str]]) -> None:
    stack, _ = own_stack
    stack.up()
    uri = stack.settings.services.mongodb.connection_uri
    with pymongo.MongoClient(uri) as client:
        client.boom.kept.insert_one({"_id": 1, "night": "20240716"})
    stack.down()
    stack.up()
    with pymongo.MongoClient(uri) as client:
        assert client.boom.kept.find_one({"_id": 1}) == {"_id": 1, "night": "20240716"}


def test_valkey_data_survives_a_restart_in_the_state_dir(
        own_stack: tuple[LocalStack, dict[str, str]]) -> None:
    """Issue 16: the embedded Valkey ran without persistence, in whatever directory
    ``services up`` ran from; a restart emptied every results stream."""
    stack, _ = own_stack
    stack.up()
    url = stack.settings.services.valkey.connection_url
    with redis.Redis.from_url(url) as valkey:
        valkey.xadd("filter:f:results", {"data": "x"})
        valkey.set("kept", "1")
        time.sleep(1.5)  # the append-only file is synced every second
    stack.down()
    assert (stack.state_dir / "valkey").is_dir()
    stack.up()
    with redis.Redis.from_url(url) as valkey:
        assert valkey.get("kept") == b"1" and valkey.xlen("filter:f:results") == 1


def test_external_services_are_never_started(stack_settings: Settings, tmp_path: Path) -> None:
    services = stack_settings.services
    environment = {
        "BOOM_FLOW_SERVICES__STATE_DIR": str(tmp_path / "state"),
        "BOOM_FLOW_SERVICES__MONGODB__EMBEDDED": "false",
        "BOOM_FLOW_SERVICES__MONGODB__URI": services.mongodb.connection_uri,
        "BOOM_FLOW_SERVICES__KAFKA__EMBEDDED": "false",
        "BOOM_FLOW_SERVICES__KAFKA__BOOTSTRAP_SERVERS": services.kafka.bootstrap,
        "BOOM_FLOW_SERVICES__VALKEY__EMBEDDED": "false",
        "BOOM_FLOW_SERVICES__VALKEY__URL": services.valkey.connection_url,
    }
    stack = LocalStack(load_settings(environ=environment))
    assert stack.up() == []
    assert stack.managed() == {}
    statuses = stack.status()
    assert [s.mode for s in statuses] == ["external"] * 3
    assert all(s.healthy and s.pid is None for s in statuses)
    assert stack.down() == []
    assert all(s.healthy for s in stack.status()), "down must not touch external servers"


def test_embedded_mongodb_runs_standalone_unless_an_oplog_is_asked_for(
        stack_settings: Settings) -> None:
    # The default: no oplog, so no per-update diff of the whole document on the server.
    mongo = stack_settings.services.mongodb
    with pymongo.MongoClient(mongo.connection_uri, serverSelectionTimeoutMS=5000) as client:
        hello = client.admin.command("hello")
    assert "setName" not in hello and hello["isWritablePrimary"]
    with_oplog = stack_settings.model_copy(update={"services": stack_settings.services.model_copy(
        update={"mongodb": mongo.model_copy(update={"oplog": True})})})
    argv = {spec.name: spec.argv for spec in launch_specs(with_oplog)}
    assert "--standalone" not in argv["mongodb"]
    assert "--standalone" in {spec.name: spec.argv for spec in launch_specs(stack_settings)}[
        "mongodb"]
