"""``boom-flow replay`` tells the truth about what happened to every packet: the reasons
of rejections, a failure when nothing could be stored, alerts repeated in a batch.

The packets are simulated here, so these tests need no shared data."""

from __future__ import annotations

import re
from pathlib import Path

import pymongo
import pytest
from click.testing import CliRunner

from boom_flow.cli.main import cli
from boom_flow.simulate import NightSpec, simulate_night
from boom_flow.simulate.output import write_files, write_tarball

pytestmark = pytest.mark.services


@pytest.fixture
def replay_environment(environment: dict[str, str]) -> dict[str, str]:
    return {**environment, "BOOM_FLOW_DASK__N_WORKERS": "1",
            "BOOM_FLOW_BATCH__MAX_ALERTS": "500"}


def _count(label: str, output: str) -> int:
    match = re.search(rf"{label}\s+(\d+)", output)
    assert match, output
    return int(match.group(1))


def test_a_replay_where_every_packet_is_rejected_names_the_reasons_and_fails(
        replay_environment: dict[str, str], mongo_db: pymongo.database.Database,
        tmp_path: Path) -> None:
    night = tmp_path / "night"
    night.mkdir()
    for i in range(20):
        (night / f"noise_{i}.avro").write_bytes(b"not an avro file %d" % i)
    for i in range(5):
        (night / f"empty_{i}.avro").write_bytes(b"")
    result = CliRunner().invoke(cli, ["replay", str(night), "--survey", "ztf"],
                                env=replay_environment)
    assert result.exit_code == 1, result.output
    assert "rejected:   25 packets, by reason:" in result.output
    reasons = re.findall(r"^\s+(\d+) x (.+)$", result.output, re.MULTILINE)
    assert sum(int(count) for count, _ in reasons) == 25
    # Each line is a kind of reason (its text before the first ':'), counted over the
    # rejections stored with their full reason.
    stored = [doc["reason"] for doc in mongo_db["ZTF_alerts_rejected"].find()]
    for count, kind in reasons:
        assert sum(reason.split(":", 1)[0].strip() == kind for reason in stored) == int(count)
    assert "ZTF_alerts_rejected" in result.output
    assert "nothing could be stored: all 25 packets were rejected" in result.output
    assert mongo_db["ZTF_alerts_rejected"].count_documents({}) == 25


def test_an_alert_twice_in_one_batch_is_counted_and_stored_once(
        replay_environment: dict[str, str], mongo_db: pymongo.database.Database,
        tmp_path: Path) -> None:
    """The packets of a folder and a tarball holding them again, in one batch: every
    alert in is accounted for."""
    night = tmp_path / "night"
    spec = NightSpec(survey="ztf", n_alerts=12, seed=3)
    write_files(simulate_night(spec), night, "folder")
    write_tarball(simulate_night(spec), night / "again.tar.gz")
    result = CliRunner().invoke(cli, ["replay", str(night), "--survey", "ztf"],
                                env=replay_environment)
    assert result.exit_code == 0, result.output
    assert _count("alerts in:", result.output) == 24
    assert "stored:     12 new, 0 already in the archive, 12 repeated within a batch" \
        in result.output
    assert "unaccounted" not in result.output
    assert mongo_db["ZTF_alerts"].count_documents({}) == 12
