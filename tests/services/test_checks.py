"""``doctor``'s checks against the real servers, healthy and unreachable."""

from __future__ import annotations

from boom_flow.config import Settings, load_settings
from boom_flow.services import run_doctor
from tests.conftest import free_port


def test_doctor_reports_all_three_services_healthy(stack_settings: Settings) -> None:
    results = {r.service: r for r in run_doctor(stack_settings)}
    assert set(results) == {"mongodb", "kafka", "valkey"}
    for result in results.values():
        assert result.ok, result.detail
        assert result.version
        assert "round trip" in result.detail
    assert results["mongodb"].version[0].isdigit()


def test_doctor_says_in_plain_words_what_is_unreachable() -> None:
    environment = {
        "BOOM_FLOW_SERVICES__MONGODB__PORT": str(free_port()),
        "BOOM_FLOW_SERVICES__KAFKA__PORT": str(free_port()),
        "BOOM_FLOW_SERVICES__VALKEY__PORT": str(free_port()),
    }
    results = run_doctor(load_settings(environ=environment))
    assert [r.ok for r in results] == [False, False, False]
    for result in results:
        assert "is it running?" in result.detail
        assert "boom-flow services up" in result.detail
        assert "Traceback" not in result.detail
