"""``Session.start()`` as a notebook on a fresh machine runs it: its own embedded stack
on free ports in a temporary folder, a cluster serving the boom_flow page, everything
stopped by ``close()`` and nothing else touched."""

from __future__ import annotations

import socket

import httpx
import pytest

from boom_flow.config import load_settings
from boom_flow.explore import Session

pytestmark = pytest.mark.services
DEFAULT_PORTS = {27117, 19092, 16379, 8787}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_own_session_starts_and_stops_its_own_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOOM_NOTEBOOK_SERVICES", raising=False)
    configured = load_settings().services
    session = Session.start()
    services = session.settings.services
    ports = {services.mongodb.port, services.kafka.port, services.valkey.port}
    state_dir = services.state_dir
    try:
        assert state_dir != configured.state_dir and not ports & DEFAULT_PORTS
        assert session.db.command("ping")["ok"] == 1
        page = session.dashboard
        assert page is not None and page.endswith("/boom_flow")
        assert httpx.get(page, timeout=30).status_code == 200
        assert session.workdir.is_dir()
    finally:
        session.close()
    assert not any(_listening(port) for port in ports)
    assert not session.workdir.exists()
