"""Start, report and stop the embedded local stack.

``up`` records every process it starts (PID, start time, command line) in
``<state_dir>/stack.json``; ``down`` stops exactly those processes and nothing
else, checking the start time so that a recycled PID is never killed. Services
the configuration points elsewhere (``embedded: false``) are never started here;
they only show up in ``status``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from boom_flow.config import Settings
from boom_flow.services.checks import PINGS
from boom_flow.services.embedded import SERVICE_NAMES, LaunchSpec, launch_specs

STATE_FILE = "stack.json"
_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


class StackError(RuntimeError):
    """The stack cannot be started or stopped as asked; the message says why."""


@dataclass(frozen=True)
class ManagedProcess:
    """A server process started by ``up`` (what ``stack.json`` records)."""

    name: str
    pid: int
    create_time: float
    host: str
    port: int
    argv: list[str]
    log: str


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    mode: str  # "embedded" or "external"
    pid: int | None
    running: bool
    healthy: bool


class LocalStack:
    """The embedded servers of one configuration."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_dir = settings.services.state_dir
        self.state_path = self.state_dir / STATE_FILE

    # -- state file -------------------------------------------------------------------
    def _read_state(self) -> dict[str, ManagedProcess]:
        try:
            raw = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as error:
            raise StackError(f"{self.state_path} is corrupt ({error}); remove it") from None
        return {name: ManagedProcess(**entry) for name, entry in raw.items()}

    def _write_state(self, state: dict[str, ManagedProcess]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({n: asdict(p) for n, p in state.items()}, indent=2))
        temporary.replace(self.state_path)

    def managed(self) -> dict[str, ManagedProcess]:
        """The processes started by ``up`` that are still alive."""
        return {name: p for name, p in self._read_state().items() if _is_alive(p)}

    # -- commands ---------------------------------------------------------------------
    def up(self, timeout_s: float = _READY_TIMEOUT_S) -> list[tuple[str, str]]:
        """Start what is not running; return ``(service, "started"|"running")`` pairs."""
        state = self.managed()
        outcome = []
        started: list[ManagedProcess] = []
        try:
            for spec in launch_specs(self.settings):
                if spec.name in state:
                    outcome.append((spec.name, "running"))
                    continue
                process = self._start(spec)
                state[spec.name] = process
                started.append(process)
                self._write_state(state)
                outcome.append((spec.name, "started"))
            for process in started:
                self._wait_ready(process, timeout_s)
        except BaseException:
            for process in started:
                _terminate(process)
                state.pop(process.name, None)
            self._write_state(state)
            raise
        return outcome

    def down(self) -> list[str]:
        """Stop the processes ``up`` started; return their names."""
        stopped = []
        for name, process in self._read_state().items():
            if _is_alive(process):
                _terminate(process)
                stopped.append(name)
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()
        return stopped

    def status(self) -> list[ServiceStatus]:
        state = self.managed()
        services = self.settings.services
        addresses = {
            "mongodb": services.mongodb.connection_uri,
            "kafka": services.kafka.bootstrap,
            "valkey": services.valkey.connection_url,
        }
        statuses = []
        for name in SERVICE_NAMES:
            embedded = getattr(services, name).embedded
            process = state.get(name)
            statuses.append(ServiceStatus(
                name=name,
                address=addresses[name],
                mode="embedded" if embedded else "external",
                pid=process.pid if process else None,
                running=process is not None if embedded else True,
                healthy=PINGS[name](self.settings),
            ))
        return statuses

    # -- processes --------------------------------------------------------------------
    def _start(self, spec: LaunchSpec) -> ManagedProcess:
        _ensure_port_free(spec)
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{spec.name}.log"
        with open(log_path, "ab") as log, open(os.devnull, "rb") as null:
            # posix_spawn rather than Popen: the server must outlive this command, and a
            # Popen object would warn about a child it never waited for. setsid puts it in a
            # session of its own, so the terminal's ^C does not reach it.
            pid = os.posix_spawn(
                spec.argv[0], list(spec.argv), dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, null.fileno(), 0),
                    (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
                ],
                setsid=True,
            )
        return ManagedProcess(
            name=spec.name, pid=pid, create_time=psutil.Process(pid).create_time(),
            host=spec.host, port=spec.port, argv=list(spec.argv), log=str(log_path),
        )

    def _wait_ready(self, process: ManagedProcess, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        ping = PINGS[process.name]
        while time.monotonic() < deadline:
            if not _is_alive(process):
                raise StackError(
                    f"{process.name} exited during start-up; last lines of {process.log}:\n"
                    + _tail(Path(process.log))
                )
            if _port_open(process.host, process.port) and ping(self.settings):
                return
            time.sleep(0.1)
        raise StackError(f"{process.name} did not become ready within {timeout_s:g} s; "
                         f"see {process.log}")


def _is_alive(process: ManagedProcess) -> bool:
    try:
        proc = psutil.Process(process.pid)
        same_process = abs(proc.create_time() - process.create_time) < 1.0
    except psutil.NoSuchProcess:
        return False
    return same_process and _running(proc)


def _terminate(process: ManagedProcess) -> None:
    """SIGTERM the process group ``up`` created, then SIGKILL what is left."""
    if not _is_alive(process):
        return
    try:
        root = psutil.Process(process.pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    alive = _wait_gone(family, _STOP_TIMEOUT_S)
    for leftover in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()
    _wait_gone(alive, _STOP_TIMEOUT_S)


def _wait_gone(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until each process has exited; return those still running at the deadline.

    A zombie counts as exited: once ``up`` has returned the servers are no longer our
    children, and in a container whose init does not reap, they may stay zombies.
    """
    deadline = time.monotonic() + timeout_s
    alive = list(processes)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _running(p)]
        if alive:
            time.sleep(0.05)
    return alive


def _running(process: psutil.Process) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(process.pid, os.WNOHANG)  # reap it if this process happens to be the parent
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _ensure_port_free(spec: LaunchSpec) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too: a port in TIME_WAIT is free for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((spec.host, spec.port))
        except OSError as error:
            variable = "BOOM_FLOW_" + spec.port_key.upper().replace(".", "__")
            raise StackError(
                f"cannot start {spec.name}: {spec.host}:{spec.port} is already in use "
                f"({error.strerror}); stop what holds it or choose another port with "
                f"{spec.port_key} (environment: {variable})"
            ) from None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
