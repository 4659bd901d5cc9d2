"""``boom-flow simulate night|galaxies``."""

from __future__ import annotations

import tarfile
import uuid
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from boom_flow.cli.main import cli
from boom_flow.simulate import NightSpec, simulate_night


def invoke(*args: str, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_a_night_to_a_folder(tmp_path: Path) -> None:
    result = invoke("simulate", "night", str(tmp_path / "night"), "--alerts", "40",
                    "--seed", "3", "--prior-nights", "2")
    assert result.exit_code == 0, result.output
    assert "40 ZTF alerts (seed 3)" in result.output and "alerts/s" in result.output
    names = sorted(p.name for p in (tmp_path / "night").glob("*.avro"))
    spec = NightSpec(n_alerts=40, seed=3, prior_nights=2)
    assert names == sorted(f"{a.alert_id}.avro" for a in simulate_night(spec))


def test_a_night_to_a_tarball(tmp_path: Path) -> None:
    out = tmp_path / "ztf_20240709.tar.gz"
    result = invoke("simulate", "night", str(out), "--alerts", "25", "--tarball")
    assert result.exit_code == 0, result.output
    with tarfile.open(out) as tar:
        assert len(tar.getnames()) == 25


def test_an_lsst_night_needs_and_uses_a_schema_folder(tmp_path: Path, shared_data: Path
                                                      ) -> None:
    result = CliRunner().invoke(cli, ["simulate", "night", str(tmp_path / "x"), "--survey",
                                      "lsst", "--alerts", "5"],
                                env={"BOOM_FLOW_SURVEYS__LSST__SCHEMA_DIR": ""})
    assert result.exit_code != 0 and "schema" in result.output
    result = invoke("simulate", "night", str(tmp_path / "lsst"), "--survey", "lsst",
                    "--alerts", "12", "--schema-dir", str(shared_data / "lsst/schema"),
                    "--schema-version", "9.0")
    assert result.exit_code == 0, result.output
    packets = [p.read_bytes() for p in (tmp_path / "lsst").glob("*.avro")]
    assert len(packets) == 12 and all(p[:5] == b"\x00\x00\x00\x03\x84" for p in packets)


@pytest.mark.parametrize("args", [
    ["simulate", "night"],  # neither OUT nor --kafka
    ["simulate", "night", "out", "--kafka", "topic"],  # both
    ["simulate", "night", "out", "--rate", "10"],  # pacing files makes no sense
    ["simulate", "night", "out", "--alerts", "-1"],
])
def test_bad_usage_fails_with_a_message(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "Error" in result.output


@pytest.mark.services
def test_a_night_to_kafka(stack_environment: dict[str, str]) -> None:
    topic = f"cli-sim-{uuid.uuid4().hex[:8]}"
    result = invoke("simulate", "night", "--kafka", topic, "--alerts", "15", "--rate", "1000",
                    env=stack_environment)
    assert result.exit_code == 0, result.output
    assert f"15 ZTF alerts (seed 0) -> Kafka topic {topic}" in result.output


def test_a_galaxy_catalog(tmp_path: Path) -> None:
    out = tmp_path / "cat" / "ned.parquet"
    result = invoke("simulate", "galaxies", str(out), "--rows", "1000", "--seed", "4")
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert len(table) == 1000 and {"objname", "ra", "dec", "z"} <= set(table.columns)
