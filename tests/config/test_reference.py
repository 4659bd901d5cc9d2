"""docs/configuration.md is generated from the schema and the commented defaults, and
kept up to date."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from boom_flow.cli.main import cli
from boom_flow.config.model import Settings
from boom_flow.config.reference import key_comments, render

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _leaf_keys(model: type, prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            keys += _leaf_keys(annotation, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_the_committed_reference_is_what_the_schema_gives() -> None:
    assert COMMITTED.read_text() == render(), (
        "docs/configuration.md is out of date: run "
        "`boom-flow config reference --out docs/configuration.md`")


def test_every_key_is_listed_with_its_variable_and_an_explanation() -> None:
    text = render()
    for key in _leaf_keys(Settings):
        variable = "BOOM_FLOW_" + key.upper().replace(".", "__")
        [row] = [line for line in text.splitlines() if line.startswith(f"| `{key}` |")]
        assert f"`{variable}`" in row
        explanation = row.split("|")[4].split("<br>")[0].strip()
        assert explanation, f"{key} has no comment in defaults.yaml"


def test_comments_attach_to_the_key_below_them_or_on_their_line() -> None:
    text = ("# header\n\na:\n  # about b\n  b: 1\n  c: 2  # about c\n  d:\n"
            "    - x: 1\n  # about e\n  e: null\n")
    assert key_comments(text) == {"a.b": "about b", "a.c": "about c", "a.e": "about e"}


def test_the_command_writes_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    result = CliRunner().invoke(cli, ["config", "reference", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == render()
