"""Configured models -> loaded models; a missing or broken file is reported once."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from boom_flow.ml.registry import check_models, load_all, model_path


def test_a_missing_model_file_is_reported_once_naming_the_file(
    tmp_path: Path, onnx_dir: Path, ztf_specs: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    shutil.copy(onnx_dir / "acai_h.d1_dnn_20201130.onnx", tmp_path)
    caplog.set_level(logging.WARNING, logger="boom_flow.ml")
    for _ in range(3):
        usable, problems = check_models(ztf_specs, tmp_path)
        models, _ = load_all(ztf_specs, tmp_path)
    assert [spec["name"] for spec in usable] == ["acai_h"] == [m.name for m in models]
    assert len(problems) == 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 5, warnings
    assert any(str(tmp_path / "btsbot-v1.0.1.onnx") in w for w in warnings)


def test_a_broken_model_file_is_reported(
    tmp_path: Path, ztf_specs: list[dict[str, Any]], caplog: pytest.LogCaptureFixture,
) -> None:
    spec = ztf_specs[0]
    model_path(spec, tmp_path).write_bytes(b"this is not an onnx graph")
    caplog.set_level(logging.WARNING, logger="boom_flow.ml")
    usable, problems = check_models([spec], tmp_path)
    assert usable == [] and "cannot load" in problems[0] and spec["file"] in problems[0]
    assert len(caplog.records) == 1


def test_an_absolute_file_ignores_models_dir(onnx_dir: Path, ztf_specs: list[dict[str, Any]],
                                             tmp_path: Path) -> None:
    spec = {**ztf_specs[0], "file": str(onnx_dir / ztf_specs[0]["file"])}
    usable, problems = check_models([spec], tmp_path)
    assert usable == [spec] and problems == []
