"""environment.yml (conda-forge) declares the same runtime dependencies as pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from the PyPI distribution names.
CONDA_NAMES = {
    "confluent-kafka": "python-confluent-kafka",
    "redis": "redis-py",
    "xgboost-cpu": "py-xgboost-cpu",
    "prometheus-client": "prometheus_client",
}
#: Runtime dependencies that conda-forge lacks: in environment.yml's pip section.
PIP_ONLY = frozenset({"pcre2"})


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", requirement.strip())
    assert match, requirement
    return match.group(1).lower(), match.group(3).replace(" ", "")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_runtime_dependencies_agree() -> None:
    pyproject = {}
    for requirement in _pyproject()["project"]["dependencies"]:
        name, version = _split(requirement)
        pyproject[CONDA_NAMES.get(name, name)] = version
        if requirement.startswith("dask[distributed]"):
            pyproject["distributed"] = version  # the extra is a package of its own on conda
    conda = {}
    for entry in _environment()["dependencies"]:
        if isinstance(entry, str):
            name, version = _split(entry)
            if name not in ("python", "pip"):
                conda[name] = version
    pip_section = next(e["pip"] for e in _environment()["dependencies"] if isinstance(e, dict))
    conda.update(entry for entry in map(_split, pip_section) if entry[0] in PIP_ONLY)
    assert conda == pyproject


def test_embedded_extra_agrees_with_the_pip_section() -> None:
    pip_section = next(e["pip"] for e in _environment()["dependencies"] if isinstance(e, dict))
    embedded = _pyproject()["project"]["optional-dependencies"]["embedded"]
    pip_installed = [entry for entry in map(_split, pip_section) if entry[0] not in PIP_ONLY]
    assert sorted(pip_installed) == sorted(map(_split, embedded))


def test_python_versions_agree() -> None:
    requires = _pyproject()["project"]["requires-python"]
    versions = dict(_split(e) for e in _environment()["dependencies"] if isinstance(e, str))
    assert versions["python"] == requires
