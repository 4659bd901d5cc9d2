"""A throw-away embedded stack for a benchmark or a demo: real servers, free ports.

The servers are started by the project's own launcher (``LocalStack``), exactly as
``boom-flow services up`` starts them, but in a temporary state directory and on
ports nobody else uses, so a benchmark neither disturbs nor is disturbed by a stack
the user already runs. Everything is stopped and removed on exit.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from boom_flow.config import Settings, load_settings
from boom_flow.services import LocalStack


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporary_environment(state_dir: Path) -> dict[str, str]:
    """Overrides for an embedded stack on free ports under ``state_dir``."""
    return {
        "BOOM_FLOW_SERVICES__STATE_DIR": str(state_dir),
        "BOOM_FLOW_SERVICES__MONGODB__EMBEDDED": "true",
        "BOOM_FLOW_SERVICES__MONGODB__PORT": str(free_port()),
        "BOOM_FLOW_SERVICES__KAFKA__EMBEDDED": "true",
        "BOOM_FLOW_SERVICES__KAFKA__PORT": str(free_port()),
        "BOOM_FLOW_SERVICES__VALKEY__EMBEDDED": "true",
        "BOOM_FLOW_SERVICES__VALKEY__PORT": str(free_port()),
        "BOOM_FLOW_DASK__DASHBOARD_PORT": "0",
    }


@contextmanager
def temporary_stack(config_path: Path | None = None,
                    overrides: Mapping[str, str] | None = None) -> Iterator[Settings]:
    """Start MongoDB, Kafka and Valkey in a temporary directory; yield their settings."""
    with tempfile.TemporaryDirectory(prefix="boom-flow-bench-") as state:
        environ = {**os.environ, **temporary_environment(Path(state)), **(overrides or {})}
        settings = load_settings(config_path, environ=environ)
        stack = LocalStack(settings)
        stack.up()
        try:
            yield settings
        finally:
            stack.down()


def server_pids(settings: Settings) -> dict[str, int]:
    """PIDs of the embedded servers of ``settings`` that are running (for RSS)."""
    return {name: process.pid for name, process in LocalStack(settings).managed().items()}
