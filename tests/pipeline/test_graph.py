"""Pipeline definitions: the shipped graphs load, and mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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


def _names(stages: str) -> list[str]:
    from boom_flow.pipeline.graph import GraphSpec

    graph = GraphSpec.model_validate(yaml.safe_load(
        f"survey: ztf\nsource: {{kind: kafka}}\nstages: {stages}\n"))
    return [stage.name for stage in graph.stages]


def test_a_list_of_enrichments_gets_the_batch_path_around_it() -> None:
    assert _names("[]") == ["decode", "write"]
    assert _names("[{name: features}]") == ["decode", "history", "features", "write"]
    assert _names("[{name: crossmatch}, {name: filter}]") == [
        "decode", "history", "aliases", "crossmatch", "filter", "write", "publish"]
    assert "aliases" not in _names("[{name: crossmatch, params: {aliases: false}}]")


def test_the_short_form_hands_the_publishing_params_to_publish(tmp_path: Path) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text("survey: ztf\nsource: {kind: kafka}\nstages:\n"
                    "  - {name: filter, params: {stream_maxlen: 5, reload_s: 3}}\n")
    stages = {stage.name: stage.params for stage in load_graph(path).stages}
    assert stages["filter"] == {"reload_s": 3}
    assert stages["publish"] == {"stream_maxlen": 5}


def test_a_complete_list_runs_as_written() -> None:
    written = "[{name: decode}, {name: history}, {name: features}, {name: write}]"
    assert _names(written) == ["decode", "history", "features", "write"]


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        ("[{name: history}, {name: decode}, {name: write}]", "decode must be the first"),
        ("[{name: decode}, {name: history}, {name: features}]", "no write stage"),
        ("[{name: decode}, {name: features}, {name: write}]",
         "features needs the history stage before it"),
        ("[{name: decode}, {name: history}, {name: write}, {name: features}]",
         "features must come before write"),
        ("[{name: decode}, {name: history}, {name: filter}, {name: publish}, {name: write}]",
         "write must come before publish"),
        ("[{name: decode}, {name: history}, {name: filter}, {name: aliases}, {name: write}]",
         "aliases must come before filter"),
        ("[{name: decode}, {name: write}, {name: write}]", "listed twice: write"),
    ],
)
def test_a_list_that_cannot_run_is_refused_on_load(tmp_path: Path, stages: str,
                                                   expected: str) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text(f"survey: ztf\nsource: {{kind: kafka}}\nstages: {stages}\n")
    with pytest.raises(GraphError, match=expected):
        load_graph(path)
