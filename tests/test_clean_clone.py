"""A fresh clone has no ../shared/data. Everything that needs it must go through the
``shared_data`` fixture, which skips saying where it looked, and which marks the test
``shared_data`` so that CI's second pass (``.ci/run``, the folder hidden) selects it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from boom_flow.config import shared_data_dir

pytestmark = pytest.mark.clean_clone

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: Ways of reaching the shared folder without the fixture.
_DIRECT = re.compile(r"shared_data_dir|SHARED_DATA\b|/ \"shared\"|\.\./shared/data/")
#: Files allowed to name it: the fixture itself, this guard, the configuration test
#: proving the variable is not a setting.
_ALLOWED = {"conftest.py", "test_clean_clone.py", "config/test_loader.py"}


def test_tests_reach_the_shared_data_only_through_the_fixture() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        relative = str(path.relative_to(TESTS))
        if relative in _ALLOWED:
            continue
        code = "\n".join(line for line in path.read_text().splitlines()
                         if not line.lstrip().startswith("#"))
        code = re.sub(r'"""(.|\n)*?"""', "", code)  # docstrings may mention the folder
        if _DIRECT.search(code):
            offenders.append(relative)
    assert offenders == []


def test_the_shared_data_folder_follows_the_variable(tmp_path: Path) -> None:
    assert shared_data_dir({"BOOM_FLOW_SHARED_DATA": str(tmp_path)}) == tmp_path
    assert shared_data_dir({}) == ROOT.parent / "shared" / "data"


def test_ci_runs_the_suite_again_with_the_shared_folder_hidden() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    second = [line for line in script.splitlines() if "BOOM_FLOW_SHARED_DATA=" in line]
    assert second, ".ci/run has no pass with the shared folder hidden"
    assert any('-m "shared_data or clean_clone"' in line for line in script.splitlines())
