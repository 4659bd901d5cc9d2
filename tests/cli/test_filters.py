"""``boom-flow filters``: add, list, show, version, activate, deactivate, test."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result
from pymongo.database import Database

from boom_flow.cli.filters import parse_permissions
from boom_flow.cli.main import cli
from boom_flow.core import RawPacket
from boom_flow.filters.publish import error_counts_key, error_log_key
from boom_flow.filters.results import stream_key
from tests.filters.helpers import ingest, server_results

PIPELINE = [{"$match": {"candidate.drb": {"$gt": 0.9}}},
            {"$project": {"objectId": 1, "annotations.drb": "$candidate.drb"}}]


def _run(environment: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, ["filters", *args], env=environment)


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "drb.json"
    path.write_text(json.dumps(PIPELINE))
    return path


def test_a_filters_life_from_the_command_line(environment: dict[str, str], mongo_db: Database,
                                              pipeline_file: Path) -> None:
    added = _run(environment, "add", str(pipeline_file), "--name", "high drb", "--survey",
                 "ztf", "--permissions", "ZTF=1,2", "--user", "ada")
    assert added.exit_code == 0, added.output
    filter_id = re.search(r"created (\S+)", added.output).group(1)
    stored = mongo_db.filters.find_one({"_id": filter_id})
    assert stored["permissions"] == {"ZTF": [1, 2]} and stored["fv"][0]["pipeline"] == PIPELINE

    listed = _run(environment, "list", "--survey", "ztf")
    assert filter_id in listed.output and "high drb" in listed.output
    assert "active" in listed.output
    shown = json.loads(_run(environment, "show", filter_id).output)
    assert shown["_id"] == filter_id and shown["user_id"] == "ada"

    versioned = _run(environment, "version", filter_id, str(pipeline_file), "--no-activate")
    assert versioned.exit_code == 0, versioned.output
    new_fid = re.search(r"added version (\S+)", versioned.output).group(1)
    assert mongo_db.filters.find_one({"_id": filter_id})["active_fid"] != new_fid
    assert _run(environment, "activate", filter_id, "--fid", new_fid).exit_code == 0
    assert mongo_db.filters.find_one({"_id": filter_id})["active_fid"] == new_fid
    assert _run(environment, "deactivate", filter_id).exit_code == 0
    assert mongo_db.filters.find_one({"_id": filter_id})["active"] is False
    assert "no filters" in _run(environment, "list", "--active").output

    missing = _run(environment, "activate", "no-such-id")
    assert missing.exit_code == 1 and "no such filter" in missing.output


def test_an_invalid_filter_is_refused_with_the_reason(environment: dict[str, str],
                                                      mongo_db: Database, tmp_path: Path
                                                      ) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"$match": {"$where": "true"}}, {"$project": {"objectId": 1}}]))
    result = _run(environment, "add", str(bad), "--name", "x", "--survey", "ztf",
                  "--permissions", "ZTF=1", "--user", "u")
    assert result.exit_code == 1
    assert "$where" in result.output and "pipeline[0].$match.$where" in result.output
    bad.write_text("[{")
    result = _run(environment, "add", str(bad), "--name", "x", "--survey", "ztf",
                  "--permissions", "ZTF=1", "--user", "u")
    assert result.exit_code == 1 and "not valid JSON" in result.output
    assert mongo_db.filters.count_documents({}) == 0
    assert _run(environment, "add", str(bad), "--name", "x", "--survey", "ztf",
                "--permissions", "ZTF", "--user", "u").exit_code == 2


def test_test_runs_over_files_and_over_the_archive(environment: dict[str, str],
                                                   mongo_db: Database, shared_data: Path,
                                                   pipeline_file: Path) -> None:
    night = shared_data / "ztf" / "alerts" / "pgb_ZTF21abiuvdk_lightcurve"
    over_files = _run(environment, "test", str(pipeline_file), "--survey", "ztf",
                      "--permissions", "ZTF=1,2,3", "--path", str(night), "--sample", "2")
    assert over_files.exit_code == 0, over_files.output
    found = re.search(r"(\d+) passed over 34 alerts .* \(([\d.]+)%\)", over_files.output)
    passed = int(found.group(1))
    assert float(found.group(2)) == round(100 * passed / 34, 2)

    packets = [RawPacket(p.read_bytes(), str(p)) for p in sorted(night.glob("*.avro"))]
    ingest(mongo_db, "ztf", shared_data, packets, 10)
    expected = server_results(mongo_db, "ZTF", PIPELINE, (1, 2, 3))
    assert passed == len(expected) > 3
    over_archive = _run(environment, "test", str(pipeline_file), "--survey", "ztf",
                        "--permissions", "ZTF=1,2,3", "--start-jd", "0", "--end-jd", "3e6")
    assert over_archive.exit_code == 0, over_archive.output
    assert f"{len(expected)} passed over stored ZTF alerts" in over_archive.output
    sample = [json.loads(line) for line in over_archive.output.splitlines()[1:]]
    assert len(sample) == 3 and all(s["_id"] in expected for s in sample)
    assert _run(environment, "test", str(pipeline_file), "--survey", "ztf",
                "--permissions", "ZTF=1").exit_code == 2


def test_permissions_are_parsed() -> None:
    assert parse_permissions(("ZTF=1,2", "lsst=")) == {"ZTF": [1, 2], "LSST": []}


def test_results_and_errors_are_shown_from_valkey(environment: dict[str, str],
                                                   valkey: redis.Redis) -> None:
    filter_id = uuid.uuid4().hex
    assert "no results" in _run(environment, "results", filter_id).output
    entry = {"candid": 7, "objectId": "ZTF1", "annotations": {"a": 1}}
    valkey.xadd(stream_key(filter_id), {"data": json.dumps(entry)})
    shown = _run(environment, "results", filter_id, "--since", "0")
    assert shown.exit_code == 0 and json.loads(shown.output)["annotations"] == {"a": 1}
    valkey.hincrby(error_counts_key("LSST"), filter_id, 2)
    valkey.xadd(error_log_key("LSST"), {"data": json.dumps(
        {"filter_id": filter_id, "candid": 7, "reason": "EvaluationError: $size"})})
    failed = _run(environment, "errors", "--survey", "lsst", "--limit", "1")
    assert f"{filter_id}: 2 errors" in failed.output and "$size" in failed.output


def test_add_and_activate_refuse_a_filter_over_max_match_rate(
        environment: dict[str, str], mongo_db: Database, shared_data: Path,
        pipeline_file: Path) -> None:
    night = shared_data / "ztf" / "alerts" / "pgb_ZTF21abiuvdk_lightcurve"
    packets = [RawPacket(p.read_bytes(), str(p)) for p in sorted(night.glob("*.avro"))[:12]]
    ingest(mongo_db, "ztf", shared_data, packets, 12)
    window = ("--reference-start-jd", "0", "--reference-end-jd", "3e6")
    passed = len(server_results(mongo_db, "ZTF", PIPELINE, (1, 2, 3)))
    assert passed > 0.05 * 12
    add = ("add", str(pipeline_file), "--name", "drb", "--survey", "ztf", "--permissions",
           "ZTF=1,2,3", "--user", "u")
    refused = _run(environment, *add, *window)
    assert refused.exit_code == 1
    assert f"{100 * passed / 12:.2f}% pass ({passed} of 12 stored ZTF alerts" in refused.output
    assert "--force" in refused.output and mongo_db.filters.count_documents({}) == 0

    inactive = _run(environment, *add, "--inactive")
    filter_id = re.search(r"created (\S+)", inactive.output).group(1)
    assert _run(environment, "activate", filter_id, *window).exit_code == 1
    assert mongo_db.filters.find_one({"_id": filter_id})["active"] is False
    # measured on a JD range without alerts: nothing to refuse on
    empty = _run(environment, "activate", filter_id, "--reference-start-jd", "1",
                 "--reference-end-jd", "2")
    assert empty.exit_code == 0 and "no stored ZTF alert" in empty.output
    forced = _run(environment, *add, *window, "--force")
    assert forced.exit_code == 0 and mongo_db.filters.count_documents({"active": True}) == 2


def test_test_explain_over_files_names_the_stage_and_condition(
        environment: dict[str, str], shared_data: Path) -> None:
    fast = str(shared_data / "filters" / "fast.json")
    night = str(shared_data / "ztf")
    plain = _run(environment, "test", fast, "--survey", "ztf", "--permissions", "ZTF=1,2,3",
                 "--path", night)
    passed, alerts = re.search(r"(\d+) passed over (\d+) alerts", plain.output).groups()
    explained = _run(environment, "test", fast, "--survey", "ztf", "--permissions",
                     "ZTF=1,2,3", "--path", night, "--explain", "--candid",
                     "1154308030015010004")
    assert explained.exit_code == 0, explained.output
    lines = explained.output.splitlines()
    assert lines[0] == f"{passed} of {alerts} alerts pass"
    assert re.match(rf"\s+stage 0 \$match\s+in\s+{alerts}\s+out\s+\d+$", lines[1])
    assert len([line for line in lines if line.strip().startswith("stage ")]) == 10
    assert "candid 1154308030015010004: dropped by stage 0 ($match)" in explained.output
    assert 'false: pipeline[0].$match.candidate.drb {"candidate.drb": {"$gt": 0.9}}' \
        in explained.output
    assert 'values: {"candidate.drb": 0.0130354' in explained.output
    assert _run(environment, "test", fast, "--survey", "ztf", "--path", night,
                "--candid", "1").exit_code == 2  # --candid needs --explain


def test_test_explain_over_the_archive_keeps_to_the_filters_rights(
        environment: dict[str, str], mongo_db: Database, shared_data: Path,
        pipeline_file: Path) -> None:
    folders = [shared_data / "ztf" / "alerts" / name
               for name in ("boom_20240716", "ztf_avro_alert_repo")]  # one is programid 3
    packets = [RawPacket(p.read_bytes(), str(p)) for folder in folders
               for p in sorted(folder.glob("*.avro"))]
    ingest(mongo_db, "ztf", shared_data, packets, 12)
    alerts = list(mongo_db.ZTF_alerts.find({}, {"candidate.programid": 1, "candidate.drb": 1}))
    public = [a for a in alerts if a["candidate"]["programid"] == 1]
    hidden = [a["_id"] for a in alerts if a["candidate"]["programid"] != 1]
    dropped = [a for a in public if a["candidate"].get("drb", 1.0) <= 0.9]
    traced = [str(a["_id"]) for a in dropped[:1]] + [str(i) for i in hidden[:1]]
    result = _run(environment, "test", str(pipeline_file), "--survey", "ztf",
                  "--permissions", "ZTF=1", "--start-jd", "0", "--end-jd", "3e6", "--explain",
                  *[arg for candid in traced for arg in ("--candid", candid)])
    assert result.exit_code == 0, result.output
    passed = len(server_results(mongo_db, "ZTF", PIPELINE, (1,)))
    assert result.output.splitlines()[0] == f"{passed} of {len(public)} alerts pass"
    assert dropped and hidden
    assert f"candid {dropped[0]['_id']}: dropped by stage 0 ($match)" in result.output
    assert f'values: {{"candidate.drb": {dropped[0]["candidate"]["drb"]}' in result.output
    assert f"candid {hidden[0]}: not among the alerts evaluated" in result.output
