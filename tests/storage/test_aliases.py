"""Aliases between ZTF and LSST objects: both ways, within 2" only, one query a batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from pymongo import monitoring
from pymongo.database import Database

from boom_flow.core import AlertBatch
from boom_flow.core.batch import table_from_records
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.storage.aliases import AliasSearch, find_aliases, write_aliases
from boom_flow.surveys import get_survey

pytestmark = pytest.mark.services

ZTF_TO_LSST = AliasSearch.between(get_survey("ztf"), get_survey("lsst"))
LSST_TO_ZTF = AliasSearch.between(get_survey("lsst"), get_survey("ztf"))


def offset(ra: float, dec: float, arcsec: float) -> tuple[float, float]:
    """``arcsec`` due north (exact along a meridian)."""
    return ra, dec + arcsec / 3600.0


def batch_of(survey: str, objects: Sequence[tuple[Any, float, float]], first_id: int
             ) -> AlertBatch:
    """One alert per ``(objectId, ra, dec)``, with the fields storage needs."""
    alerts = [{"_id": first_id + i, "objectId": oid, "schema": None} for i, (oid, _, _)
              in enumerate(objects)]
    candidates = [{"jd": 2460000.5 + i, "ra": ra, "dec": dec}
                  for i, (_, ra, dec) in enumerate(objects)]
    empty = table_from_records([], ["objectId", "jd"])
    return AlertBatch(survey=survey, alerts=table_from_records(alerts),
                      candidates=table_from_records(candidates), prv_candidates=empty,
                      prv_nondetections=empty, fp_hists=empty,
                      cutouts=table_from_records([], ["_id"]))


def store(db: Database, batch: AlertBatch, search: AliasSearch) -> AlertBatch:
    batch = find_aliases(db, batch, search)
    write_batch(db, batch)
    write_aliases(db, batch, search)
    return batch


def aliases(db: Database, survey: str, object_id: Any) -> dict[str, list[Any]] | None:
    return db[f"{survey}_alerts_aux"].find_one({"_id": object_id}).get("aliases")


def test_aliases_are_found_both_ways_within_2_arcsec_and_not_at_2_5(mongo_db: Database) -> None:
    ensure_indexes(mongo_db, "ZTF")
    ensure_indexes(mongo_db, "LSST")
    # LSST objects first, around three places in both footprints (one at the RA wrap).
    places = [(10.0, 5.0), (359.9999, -20.0), (200.0, 30.0)]
    lsst = [(1001, *places[0]), (1002, *offset(*places[0], 2.5)),
            (2001, *places[1]), (3001, *places[2]),
            (4001, 50.0, 40.0)]  # north of LSST's limit: never an alias
    store(mongo_db, batch_of("LSST", lsst, 1), LSST_TO_ZTF)
    ztf = [("ZTF24near", *offset(*places[0], 1.5)),  # 1.5" from 1001, 1.0" from 1002
           ("ZTF24wrap", 0.0001, -20.0),             # across RA 0/360 from 2001
           ("ZTF24far", *offset(*places[2], 2.5)),   # 2.5" from 3001: not an alias
           ("ZTF24north", 50.0, 40.0)]               # outside the overlap
    batch = store(mongo_db, batch_of("ZTF", ztf, 100), ZTF_TO_LSST)
    # ZTF24near: 1.5" from 1001 and 1.0" from 1002 (at 2.5"): both, nearest first.
    assert aliases(mongo_db, "ZTF", "ZTF24near") == {"LSST": [1002, 1001]}
    # RA 359.9999 vs 0.0001 at dec -20: 0.0002 deg * cos(20) = 0.68".
    assert aliases(mongo_db, "ZTF", "ZTF24wrap") == {"LSST": [2001]}
    assert aliases(mongo_db, "ZTF", "ZTF24far") is None
    assert aliases(mongo_db, "ZTF", "ZTF24north") is None
    assert aliases(mongo_db, "LSST", 1001) == {"ZTF": ["ZTF24near"]}
    assert aliases(mongo_db, "LSST", 1002) == {"ZTF": ["ZTF24near"]}
    assert aliases(mongo_db, "LSST", 2001) == {"ZTF": ["ZTF24wrap"]}
    assert aliases(mongo_db, "LSST", 3001) is None and aliases(mongo_db, "LSST", 4001) is None
    assert batch.enrichments["aliases"].tolist()[2:] == [None, None]

    # The other way: a new LSST alert next to a ZTF object already known.
    store(mongo_db, batch_of("LSST", [(5001, *offset(*places[2], 2.6)),
                                       (5002, *offset(*places[2], 5.0))], 50), LSST_TO_ZTF)
    assert aliases(mongo_db, "LSST", 5001) == {"ZTF": ["ZTF24far"]}  # 0.1" apart
    assert aliases(mongo_db, "ZTF", "ZTF24far") == {"LSST": [5001]}
    assert aliases(mongo_db, "LSST", 5002) is None  # 2.5" from ZTF24far
    # Replaying changes nothing (``$addToSet``).
    store(mongo_db, batch_of("ZTF", ztf, 100), ZTF_TO_LSST)
    assert aliases(mongo_db, "ZTF", "ZTF24near") == {"LSST": [1002, 1001]}
    assert aliases(mongo_db, "LSST", 1001) == {"ZTF": ["ZTF24near"]}


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        self.names.append((event.command_name, str(collection)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_one_query_and_one_bulk_write_per_collection_whatever_the_batch_size(
        mongo_db: Database) -> None:
    import pymongo

    rng = np.random.default_rng(5)
    ra, dec = rng.uniform(0, 360, 300), rng.uniform(-25, 30, 300)
    objects = [(i, r, d) for i, (r, d) in enumerate(zip(ra, dec, strict=True))]
    store(mongo_db, batch_of("LSST", objects, 1), LSST_TO_ZTF)
    listener = Commands()
    client = pymongo.MongoClient(mongo_db.client.address[0], mongo_db.client.address[1],
                                 event_listeners=[listener], directConnection=True)
    try:
        db = client[mongo_db.name]
        for size in (3, 300):
            listener.names.clear()
            ztf = [(f"Z{size}_{i}", r, d + 1.0 / 3600) for i, (r, d) in
                   enumerate(zip(ra[:size], dec[:size], strict=True))]
            batch = find_aliases(db, batch_of("ZTF", ztf, 10_000 * size), ZTF_TO_LSST)
            assert listener.names == [("find", "LSST_alerts_aux")]
            assert all(v == {"LSST": [i]} for i, v in enumerate(batch.enrichments["aliases"]))
            write_batch(db, batch)
            listener.names.clear()
            assert write_aliases(db, batch, ZTF_TO_LSST) == size
            assert sorted(listener.names) == [("update", "LSST_alerts_aux"),
                                              ("update", "ZTF_alerts_aux")]
    finally:
        client.close()


def test_the_pipeline_worker_records_aliases_of_real_lsst_alerts(
        mongo_db: Database, settings: Any, shared_data: Any, tmp_path: Any) -> None:
    """Real LSST packets (Rubin's 2024 rehearsal, in both footprints) through the
    worker with the crossmatch stage: ZTF objects placed 1" from some of them become
    aliases both ways, those placed 4" away do not."""
    from boom_flow.core import RawBatch, RawPacket
    from boom_flow.pipeline.graph import GraphSpec, SourceSpec, StageSpec
    from boom_flow.pipeline.run import make_plan
    from boom_flow.pipeline.worker import Workbench
    from boom_flow.sources.files import discover, read_packets
    from boom_flow.surveys import build_survey

    lsst_dir = shared_data / "lsst"
    options = (("schema_dir", str(lsst_dir / "schema")),)
    packets = tuple(p for p in read_packets(discover(lsst_dir / "or4_comcamsim_v7_1"))
                    if isinstance(p, RawPacket))
    decoded = build_survey("lsst", **dict(options)).decode(packets)
    first = decoded.alerts.assign(ra=decoded.candidates["ra"], dec=decoded.candidates["dec"])
    first = first.drop_duplicates("objectId").head(6)
    places = list(zip(first["objectId"].tolist(), first["ra"].tolist(), first["dec"].tolist(),
                      strict=True))
    ensure_indexes(mongo_db, "ZTF")
    ensure_indexes(mongo_db, "LSST")
    near = [(f"ZTF24n{i}", *offset(ra, dec, 1.0)) for i, (_, ra, dec) in enumerate(places[:3])]
    far = [(f"ZTF24f{i}", *offset(ra, dec, 4.0)) for i, (_, ra, dec) in enumerate(places[3:])]
    write_batch(mongo_db, batch_of("ZTF", near + far, 1))
    settings = settings.model_copy(update={"surveys": settings.surveys.model_copy(update={
        "lsst": settings.surveys.lsst.model_copy(update={"schema_dir": lsst_dir / "schema"})})})
    graph = GraphSpec(survey="lsst", source=SourceSpec(kind="kafka"), stages=[
        StageSpec(name="crossmatch", params={"catalogs_dir": str(tmp_path)})])
    workbench = Workbench.open(make_plan(settings, graph))
    outcome = workbench.process(RawBatch(packets=packets))
    workbench.close()
    assert outcome.error is None, outcome.error
    assert "aliases" in outcome.seconds
    for (lsst_id, _, _), (ztf_id, _, _) in zip(places[:3], near, strict=True):
        assert aliases(mongo_db, "ZTF", ztf_id) == {"LSST": [lsst_id]}
        assert aliases(mongo_db, "LSST", lsst_id) == {"ZTF": [ztf_id]}
    for (lsst_id, _, _), (ztf_id, _, _) in zip(places[3:], far, strict=True):
        assert aliases(mongo_db, "ZTF", ztf_id) is None
        assert aliases(mongo_db, "LSST", lsst_id) is None
