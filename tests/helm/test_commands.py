"""Every command the chart runs exists in the image: ``boom-flow`` subcommands in the
package's CLI, ``dask scheduler``/``dask worker`` in distributed, the worker preload."""

from __future__ import annotations

import importlib
import tomllib
from importlib.metadata import entry_points
from typing import Any

import click
import pytest

from boom_flow.cli.main import cli
from tests.helm.chart import PRODUCTION, ROOT, by_kind, render, values_file

VALUES = {"default": {}, "production": values_file(PRODUCTION)}


def _pods(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = [d["spec"]["template"]["spec"] for d in by_kind(manifests, "Deployment").values()]
    specs += [j["spec"]["template"]["spec"] for j in by_kind(manifests, "Job").values()]
    return [c for spec in specs for c in spec.get("initContainers", []) + spec["containers"]]


def _boom_flow_command(words: list[str]) -> click.Command:
    command: click.Command = cli
    for word in words:
        if not isinstance(command, click.Group) or word.startswith("-"):
            break
        sub = command.get_command(click.Context(command), word)
        if sub is None:
            break
        command = sub
    return command


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_every_container_command_exists(values: dict[str, Any]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    dask_commands = {e.name for e in entry_points(group="dask_cli")}
    seen = set()
    for container in _pods(render(values)):
        program, *words = container["command"]
        words += container.get("args", [])
        if program == "boom-flow":
            assert program in scripts
            command = _boom_flow_command(words)
            assert not isinstance(command, click.Group), (
                f"{container['name']}: {' '.join(container['command'])} is not a command")
            seen.add(f"boom-flow {command.name}")
        else:
            assert program == "dask", container["command"]
            assert words[0] in dask_commands
            seen.add(f"dask {words[0]}")
            if "--preload" in words:
                module = importlib.import_module(words[words.index("--preload") + 1])
                assert callable(module.dask_setup)
    assert {"dask scheduler", "dask worker", "boom-flow run", "boom-flow api"} <= seen
    if values.get("models", {}).get("fetch", {}).get("enabled"):
        assert "boom-flow fetch" in seen  # the init container's `models fetch`
