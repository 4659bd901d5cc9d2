"""The Dockerfile's structure agrees with the package and the chart (no Docker here: the
image is not built in CI, so these checks are what keeps it honest)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [line.strip() for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
                if line.strip() and not line.strip().startswith("#")]


def _instructions(name: str) -> list[str]:
    return [line[len(name) + 1:] for line in INSTRUCTIONS if line.startswith(name + " ")]


def test_the_base_image_is_a_pinned_python_3_11_slim() -> None:
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert default, "the base image is named once, in ARG PYTHON_IMAGE"
    # A full patch version (never a moving tag such as 3.11-slim or latest).
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?",
                        default.group(1))
    stages = _instructions("FROM")
    assert stages and all(s.split()[0] == "${PYTHON_IMAGE}" for s in stages)


def test_it_runs_as_the_non_root_user_the_chart_expects() -> None:
    users = _instructions("USER")
    assert users and users[-1].split(":")[0] == "10001"
    values = yaml.safe_load((ROOT / "helm" / "boom-flow" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 10001
    assert values["podSecurityContext"]["runAsNonRoot"] is True


def test_the_package_is_installed_without_extras_or_edits() -> None:
    installs = [run for run in _instructions("RUN") if "pip install" in run]
    assert installs
    for run in installs:
        assert "[" not in run.split("pip install", 1)[1], run  # no extras (test, embedded)
        assert " -e " not in run, run
    # Dependencies come from pyproject.toml, in a layer of their own before the code.
    copies = _instructions("COPY")
    assert copies.index("pyproject.toml ./") < copies.index("boom_flow ./boom_flow")


def test_the_graphs_the_chart_runs_are_in_the_image() -> None:
    assert "graphs ./graphs" in _instructions("COPY")
    assert _instructions("WORKDIR")[-1] == "/app"
    values = yaml.safe_load((ROOT / "helm" / "boom-flow" / "values.yaml").read_text())
    for survey in values["ingest"]["surveys"].values():
        assert (ROOT / survey["graph"]).is_file(), survey["graph"]


def test_the_default_command_is_the_package_s_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    command = _instructions("CMD")[-1]
    assert command.startswith('["boom-flow"') and "boom-flow" in scripts


def test_the_build_context_holds_only_what_the_image_needs() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored  # everything is left out but what is listed
    kept = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    copied = {c.split()[0].rstrip("/") for c in _instructions("COPY") if "--from" not in c}
    assert copied <= kept
