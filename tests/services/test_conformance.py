"""``doctor --conformance`` against the real document server of the test stack.

The expected values are MongoDB's documented answers; whether the embedded server
still deviates is not asserted: each test asks the server itself and checks that the
report flags a probe exactly when the server's answer differs from MongoDB's.
"""

from __future__ import annotations

from dataclasses import replace

from click.testing import CliRunner
from pymongo.database import Database

from boom_flow.cli.main import cli
from boom_flow.services.conformance import PROBES, run_conformance, run_probe

ARRAY_PATH = "$arrayElemAt of a field path through an array of documents"


def _server_answer(db: Database) -> object:
    """What the server itself answers for the probe, asked directly."""
    db.direct.insert_one({"_id": 1, "prv_candidates": [{"magpsf": 18.5}, {"magpsf": 19.25}]})
    (out,) = db.direct.aggregate([{"$project": {
        "r": {"$arrayElemAt": ["$prv_candidates.magpsf", 0]}}}])
    db.direct.drop()
    return out.get("r")


def test_the_array_path_check_expects_mongodb_and_flags_the_server_iff_it_differs(
        mongo_db: Database) -> None:
    (probe,) = [p for p in PROBES if p.name == ARRAY_PATH]
    assert probe.area == "array paths"
    assert probe.expected == 18.5  # the first magnitude, as MongoDB documents
    finding = run_probe(mongo_db, probe)
    answer = _server_answer(mongo_db)
    assert finding.got == answer
    assert finding.deviates == (answer != 18.5)
    # the check detects a server that answers null, and passes one that answers right
    assert run_probe(mongo_db, replace(probe, run=lambda docs, other: None)).deviates
    assert not run_probe(mongo_db, replace(probe, run=lambda docs, other: 18.5)).deviates


def test_every_area_is_probed_and_nothing_is_left_behind(mongo_db: Database) -> None:
    findings = run_conformance(mongo_db)
    assert {f.area for f in findings} == {"array paths", "missing vs null", "expressions",
                                          "$lookup", "2dsphere", "collation"}
    assert len(findings) == len(PROBES)
    assert not [name for name in mongo_db.list_collection_names()
                if name.startswith("_boom_flow_conformance")]
    for finding in findings:
        assert finding.deviates == (bool(finding.error) or finding.got != finding.expected
                                    or type(finding.got) is not type(finding.expected))


def test_doctor_conformance_lists_the_deviations(environment: dict[str, str],
                                                  mongo_db: Database) -> None:
    result = CliRunner().invoke(cli, ["doctor", "--conformance"], env=environment)
    assert result.exit_code == 0, result.output
    assert f"{len(PROBES)} checks" in result.output
    flagged = f"DEVIATION [array paths] {ARRAY_PATH}: MongoDB gives 18.5" in result.output
    assert flagged == (_server_answer(mongo_db) != 18.5)
    deviations = [line for line in result.output.splitlines() if line.startswith("DEVIATION")]
    assert f"{len(deviations)} deviations" in result.output


def test_the_api_docs_of_queries_pipeline_name_the_deviation() -> None:
    from boom_flow.api.app import create_app
    from boom_flow.config import load_settings

    app = create_app(load_settings(environ={"BOOM_FLOW_API__SECRET_KEY": "k" * 32}))
    described = app.openapi()["paths"]["/queries/pipeline"]["post"]["description"]
    assert '{"$arrayElemAt": ["$prv_candidates.magpsf", 0]}' in described
    assert "boom-flow doctor --conformance" in described
