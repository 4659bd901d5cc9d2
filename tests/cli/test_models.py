"""``boom-flow models train`` and ``boom-flow models list``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from boom_flow.cli.main import cli
from boom_flow.ml.training import load_artifact
from tests.ml.test_training import labelled_table


def test_train_prints_metrics_and_writes_an_artifact_that_predicts_identically(
    tmp_path: Path,
) -> None:
    table = labelled_table()
    csv = tmp_path / "train.csv"
    table.to_csv(csv, index=False)
    out = tmp_path / "models" / "young.json"
    result = CliRunner().invoke(cli, ["models", "train", "--table", str(csv), "--label",
                                      "label", "--features", "magpsf,age", "--out", str(out),
                                      "--version", "0.3"], env={})
    assert result.exit_code == 0, result.output
    assert "auc" in result.output and "logloss" in result.output and str(out) in result.output
    artifact = load_artifact(out)
    assert artifact.features == ("magpsf", "age") and artifact.version == "0.3"
    x = table[["magpsf", "age"]].to_numpy(np.float32)
    parquet = tmp_path / "train.parquet"
    table.to_parquet(parquet)
    again = tmp_path / "again.json"
    result = CliRunner().invoke(cli, ["models", "train", "--table", str(parquet), "--label",
                                      "label", "--features", "magpsf,age", "--out", str(again),
                                      "--version", "0.3"], env={})
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(load_artifact(again).booster.inplace_predict(x),
                                  artifact.booster.inplace_predict(x))


def test_train_fails_naming_a_missing_feature_column(tmp_path: Path) -> None:
    csv = tmp_path / "train.csv"
    labelled_table().to_csv(csv, index=False)
    result = CliRunner().invoke(cli, ["models", "train", "--table", str(csv), "--label",
                                      "label", "--features", "magpsf,drb", "--out",
                                      str(tmp_path / "m.json")], env={})
    assert result.exit_code != 0
    assert "'drb'" in result.output
    assert not (tmp_path / "m.json").exists()


def test_list_shows_each_model_and_whether_it_loads(shared_data: Path, tmp_path: Path) -> None:
    onnx = shared_data / "models" / "onnx"
    result = CliRunner().invoke(cli, ["models", "list", "--survey", "ztf"],
                                env={"BOOM_FLOW_MODELS__MODELS_DIR": str(onnx)})
    assert result.exit_code == 0, result.output
    assert result.output.count(" ok (25 columns, cutouts)") == 6
    result = CliRunner().invoke(cli, ["models", "list"],
                                env={"BOOM_FLOW_MODELS__MODELS_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert f"`boom-flow models fetch` installs the published ACAI and BTSbot files into " \
        f"{tmp_path}" in result.output
    assert "FAIL" in result.output and "btsbot-v1.0.1.onnx not found" in result.output
