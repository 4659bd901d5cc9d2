"""``boom-flow archive migrate``: aux documents written before ``healpix_14`` existed
get it, and their objects are then found as aliases."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pymongo.database import Database

from boom_flow.cli.main import cli
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.storage.aliases import find_aliases
from tests.storage.test_aliases import LSST_TO_ZTF, batch_of

pytestmark = pytest.mark.services

#: ZTF objects, one on each side of RA 0 and one near the top of the LSST sky.
OLD = [("ZTF20old0001", 359.9999, 10.0), ("ZTF20old0002", 0.0001, -20.0),
       ("ZTF20old0003", 123.4, 33.0)]


def test_migrate_adds_the_pixels_old_aux_documents_lack(environment: dict[str, str],
                                                        mongo_db: Database) -> None:
    ensure_indexes(mongo_db, "ztf")
    write_batch(mongo_db, batch_of("ZTF", OLD, 1))
    aux = mongo_db.ZTF_alerts_aux
    written = {d["_id"]: d["coordinates"]["healpix_14"] for d in aux.find()}
    # As an older boom_flow wrote them: no pixel, and one object without a position.
    aux.update_many({}, {"$unset": {"coordinates.healpix_14": ""}})
    aux.insert_one({"_id": "ZTF20nowhere", "prv_candidates": []})
    lsst = batch_of("LSST", [(7_000 + i, ra + 0.5 / 3600, dec) for i, (_, ra, dec)
                             in enumerate(OLD)], 10)
    assert find_aliases(mongo_db, lsst, LSST_TO_ZTF).enrichments["aliases"].tolist() == [
        None] * 3  # the old objects cannot be found

    result = CliRunner().invoke(cli, ["archive", "migrate", "--survey", "ztf", "--page", "2"],
                                env=environment)
    assert result.exit_code == 0, result.output
    assert "ztf: 3 aux documents got healpix_14 (3 lacked it" in result.output
    assert {d["_id"]: d["coordinates"]["healpix_14"]
            for d in aux.find({"coordinates": {"$exists": True}})} == written
    found = find_aliases(mongo_db, lsst, LSST_TO_ZTF).enrichments["aliases"].tolist()
    assert found == [{"ZTF": [object_id]} for object_id, _, _ in OLD]

    again = CliRunner().invoke(cli, ["archive", "migrate", "--survey", "ztf"], env=environment)
    assert "ztf: 0 aux documents got healpix_14 (0 lacked it" in again.output
