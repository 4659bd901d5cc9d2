"""The ``boom-flow`` command line: help everywhere, exit codes, the services commands."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from boom_flow.cli.main import cli
from tests.conftest import embedded_environment, free_port


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


@pytest.mark.parametrize("path", _commands(cli), ids=lambda p: " ".join(p) or "boom-flow")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    docstring_line = result.output.split("\n\n")[1].strip()
    assert docstring_line, f"{path} has no description"


def test_unknown_command_fails() -> None:
    assert CliRunner().invoke(cli, ["no-such-command"]).exit_code != 0


def test_a_configuration_error_exits_non_zero_with_the_message() -> None:
    result = CliRunner().invoke(cli, ["config", "show"],
                                env={"BOOM_FLOW_BATCH__MAX_MS": "soon"})
    assert result.exit_code == 1
    assert "batch.max_ms = 'soon'" in result.output


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("batch:\n  max_alerts: 9\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "config", "show"],
                                env={"BOOM_FLOW_API__ADMIN_PASSWORD": "hunter2"})
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["batch"]["max_alerts"] == 9
    assert shown["api"]["admin_password"] == "**********"
    assert "hunter2" not in result.output


def test_services_up_doctor_status_down(tmp_path: Path) -> None:
    runner = CliRunner()
    env = embedded_environment(tmp_path / "state")
    try:
        up = runner.invoke(cli, ["services", "up"], env=env)
        assert up.exit_code == 0, up.output
        assert "mongodb  started" in up.output
        assert up.output.count("healthy") == 3

        doctor = runner.invoke(cli, ["doctor"], env=env)
        assert doctor.exit_code == 0, doctor.output
        assert "all services healthy" in doctor.output

        again = runner.invoke(cli, ["services", "up"], env=env)
        assert again.exit_code == 0 and "kafka    running" in again.output

        status = runner.invoke(cli, ["services", "status"], env=env)
        assert status.exit_code == 0 and status.output.count("healthy") == 3
    finally:
        down = runner.invoke(cli, ["services", "down"], env=env)
    assert down.exit_code == 0 and "stopped: mongodb, kafka, valkey" in down.output
    after = runner.invoke(cli, ["services", "status"], env=env)
    assert after.exit_code == 1 and after.output.count(" down ") == 3


def test_doctor_exits_non_zero_when_a_service_is_unreachable() -> None:
    env = {"BOOM_FLOW_SERVICES__VALKEY__PORT": str(free_port())}
    result = CliRunner().invoke(cli, ["doctor"], env=env)
    assert result.exit_code == 1
    assert "FAIL valkey" in result.output
