"""``boom-flow watchlists upload|list|show|delete`` and ``filters add --watchlist``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pymongo.database import Database

from boom_flow.cli.main import cli

pytestmark = pytest.mark.services


def test_watchlists_from_the_command_line(environment: dict[str, str], mongo_db: Database,
                                          tmp_path: Path) -> None:
    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env=environment)
        assert result.exit_code == 0, result.output
        return result.output

    bad = tmp_path / "bad.csv"
    bad.write_text("name,ra,dec,radius\nok,1,2,3\nbroken,1,2,-1\n")
    refused = CliRunner().invoke(cli, ["watchlists", "upload", str(bad), "--name", "b",
                                       "--user", "u1"], env=environment)
    assert refused.exit_code == 1 and "row 3: radius must be in (0, 3600]" in refused.output
    good = tmp_path / "targets.json"
    good.write_text(json.dumps([{"name": "SN A", "ra": 150.1, "dec": 2.2, "radius": 3},
                                {"name": "SN B", "ra": 0.001, "dec": -1.0, "radius": 1}]))
    output = run("watchlists", "upload", str(good), "--name", "mine", "--user", "u1")
    watchlist_id = re.search(r"created (\S+) \(2 targets\)", output).group(1)
    assert "mine" in run("watchlists", "list", "--user", "u1")
    assert json.loads(run("watchlists", "show", watchlist_id))["targets"][1]["name"] == "SN B"
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps([{"$match": {}}, {"$project": {"objectId": 1}}]))
    output = run("filters", "add", str(pipeline), "--name", "f", "--survey", "lsst",
                 "--user", "u1", "--watchlist", watchlist_id)
    filter_id = re.search(r"created (\S+) \(version", output).group(1)
    assert mongo_db.filters.find_one({"_id": filter_id})["watchlist_id"] == watchlist_id
    used = CliRunner().invoke(cli, ["watchlists", "delete", watchlist_id], env=environment)
    assert used.exit_code == 1 and filter_id in used.output
    mongo_db.filters.delete_one({"_id": filter_id})
    assert "deleted" in run("watchlists", "delete", watchlist_id)
    assert mongo_db.watchlists.count_documents({}) == 0
