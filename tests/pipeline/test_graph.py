"""Pipeline definitions: the shipped graphs load, and mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from boom_flow.pipeline.graph import GraphError, load_graph

GRAPHS = Path(__file__).resolve().parents[2] / "graphs"


@pytest.mark.parametrize("name", ["ztf", "lsst"])
def test_shipped_graphs_load(name: str) -> None:
    graph = load_graph(GRAPHS / f"{name}.yaml")
    assert graph.survey == name
    assert graph.source.kind == "kafka"
    assert graph.batch.max_alerts and graph.batch.max_alerts > 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("survey: ztf\nsource: {kind: kafka}\nstages: [{name: sparkle}]\n",
         "stages.0.name: Value error, unknown stage 'sparkle'"),
        ("survey: decam\nsource: {kind: kafka}\n", "survey: Input should be 'ztf' or 'lsst'"),
        ("survey: ztf\nsource: {kind: kafka, topic: x}\n", "source.topic: Extra inputs"),
        ("survey: ztf\nsource: {kind: files, rate: -1}\n", "source.rate: Input should be greater"),
        ("survey: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_graphs_are_named_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text(text)
    with pytest.raises(GraphError) as caught:
        load_graph(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_graph_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="cannot read graph"):
        load_graph(tmp_path / "absent.yaml")
