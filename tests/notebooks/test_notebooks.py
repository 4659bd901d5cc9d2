"""Every notebook of ``notebooks/`` runs top to bottom, and is stored without outputs.

Each runs in a fresh kernel against the test run's embedded stack (the notebooks'
``Session.start()`` honours ``BOOM_NOTEBOOK_SERVICES=running``), in a database of
its own; a cell that raises fails the test with the cell and its traceback.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: One notebook's cells, all together.
TIMEOUT_S = 600


def test_the_four_notebooks_are_there() -> None:
    assert [p.stem for p in NOTEBOOKS] == [
        "01-replay-a-night", "02-explore-an-object", "03-write-and-backtest-a-filter",
        "04-train-a-classifier"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{path.name}: clear the outputs before committing"


@pytest.mark.services
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, environment: dict[str, str],
                                     mongo_db: object, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # mongo_db: the notebook's database is dropped afterwards.
    for name, value in {**environment, "BOOM_NOTEBOOK_SERVICES": "running"}.items():
        monkeypatch.setenv(name, value)  # the kernel inherits them
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    shown = [output for cell in code for output in cell.outputs
             if output.output_type in ("execute_result", "display_data")]
    assert any("image/png" in output.data or "text/html" in output.data for output in shown), \
        "the notebook showed no picture or table"
