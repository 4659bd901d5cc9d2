"""The crossmatch stage: new objects only, every configured catalog, no database."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pymongo import monitoring

from boom_flow.config import load_settings
from boom_flow.core import AlertBatch, KnownHistory, RawPacket
from boom_flow.core.batch import table_from_records
from boom_flow.crossmatch.matching import CatalogSpec
from boom_flow.crossmatch.sky import separation_arcsec
from boom_flow.stages import StageConfigError, configure_stage, set_up
from boom_flow.stages.crossmatch import CrossmatchStage
from tests.crossmatch.helpers import ingest

CATALOGS = Path("catalogs") / "fink"


def batch_of(objects: Sequence[tuple[Any, float, float]], known: Sequence[Any] = ()
             ) -> AlertBatch:
    alerts = [{"_id": i, "objectId": oid} for i, (oid, _, _) in enumerate(objects)]
    candidates = [{"jd": 2460000.5, "ra": ra, "dec": dec} for _, ra, dec in objects]
    empty = table_from_records([], ["objectId", "jd"])
    return AlertBatch(
        survey="ZTF", alerts=table_from_records(alerts), candidates=table_from_records(candidates),
        prv_candidates=empty, prv_nondetections=empty, fp_hists=empty,
        cutouts=table_from_records([], ["_id"]),
        known=KnownHistory(objects=pd.DataFrame({"objectId": pd.Series(list(known),
                                                                      dtype=object)}),
                           prv_candidates=empty, prv_nondetections=empty, fp_hists=empty))


def crossmatch_stage(specs: Sequence[CatalogSpec], catalogs_dir: Path) -> CrossmatchStage:
    """The stage as a worker has it: these catalogs, readers opened here."""
    stage = set_up(CrossmatchStage(specs=tuple(specs), catalogs_dir=str(catalogs_dir)))
    assert isinstance(stage, CrossmatchStage)
    return stage


def test_new_objects_get_every_catalog_known_ones_and_bad_positions_nothing(
        tmp_path: Path) -> None:
    ingest(tmp_path, "STARS", {"ra": [10.0, 359.9999], "dec": [20.0, -89.9999],
                               "name": ["s1", "s2"]})
    ingest(tmp_path, "GALAXIES", {"ra": [10.0], "dec": [20.0 + 60 / 3600], "z": [0.02]})
    specs = [CatalogSpec("STARS", 2.0, projection={"name": 1}),
             CatalogSpec("GALAXIES", 300.0, True, "z", 30.0, 300.0, projection={"z": 1})]
    stage = crossmatch_stage(specs, tmp_path)
    batch = batch_of([("new1", 10.0, 20.0 + 1 / 3600), ("old", 10.0, 20.0),
                      ("new2", 0.0001, -89.9999), ("new3", 100.0, 0.0),
                      ("new4", float("nan"), 1.0), ("new1", 10.0, 20.0)], known=["old"])
    values = crossmatch_stage([], tmp_path)(batch).enrichments  # no catalog: nothing added
    assert "cross_matches" not in values
    found = stage(batch).enrichments["cross_matches"].tolist()
    assert [m["name"] for m in found[0]["STARS"]] == ["s1"]
    assert found[0]["STARS"][0]["distance_arcsec"] == pytest.approx(1.0, abs=1e-6)
    # 59" from the galaxy at z = 0.02: limit 30 * 0.05 / 0.02 = 75", 59 * 0.02 / 0.05 kpc.
    (galaxy,) = found[0]["GALAXIES"]
    assert galaxy["distance_kpc"] == pytest.approx(59.0 * 0.02 / 0.05, rel=1e-6)
    assert found[1] is None  # known object: matched when it was created
    assert [m["name"] for m in found[2]["STARS"]] == ["s2"]  # across RA 0/360 at the pole
    assert found[3] == {"STARS": [], "GALAXIES": []}  # checked, nothing there
    assert found[4] is None  # no usable position
    assert found[5]["STARS"][0]["distance_arcsec"] == pytest.approx(0.0, abs=1e-6)


def test_the_stage_refuses_unknown_settings() -> None:
    with pytest.raises(StageConfigError, match="unknown crossmatch settings: radius"):
        configure_stage(load_settings(environ={}), "ztf", "crossmatch", {"radius": 2})


def test_configured_catalogs_not_ingested_are_reported_once_and_left_out(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ingest(tmp_path, "GCVS", {"ra": [1.0], "dec": [2.0], "VarType": ["M"]})
    ingest(tmp_path, "VARS", {"ra": [1.0], "dec": [2.0], "VarType": ["RR"]})
    ingest(tmp_path, "SPICY", {"ra": [1.0], "dec": [2.0]})
    settings = load_settings(environ={
        "BOOM_FLOW_CROSSMATCH__CATALOGS_DIR": str(tmp_path),
        "BOOM_FLOW_CROSSMATCH__ZTF": "[{catalog: GCVS, radius: 2.0, projection: {VarType: 1}},"
                                     " {catalog: NED, radius: 300.0, use_distance: true,"
                                     " distance_key: z, distance_max: 30, distance_max_near: 300},"
                                     " {catalog: VARS, radius: 5.0,"
                                     "  projection: {_id: 1, period: 1, VarType: 1}},"
                                     " {catalog: GCVS, radius: 3.0},"
                                     " {catalog: SPICY, radius: 9.0, use_distance: true,"
                                     " distance_key: z, distance_max: 30, distance_max_near: 9}]",
    })
    caplog.set_level(logging.WARNING, logger="boom_flow")
    configured = configure_stage(settings, "ztf", "crossmatch", {})
    assert isinstance(configured, CrossmatchStage)
    assert [(s.catalog, s.radius) for s in configured.specs] == [("GCVS", 2.0), ("VARS", 5.0)]
    assert configured.catalogs_dir == str(tmp_path)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 4
    assert "'NED' is not ingested" in warnings[0] and "runs without it" in warnings[0]
    # A projected column the catalog lacks: kept, said (``_id`` silently, as in MongoDB).
    assert "'VARS' has no column period: its matches will not carry it" in warnings[1]
    assert "'GCVS' is configured twice; the first entry is used" in warnings[2]
    assert "'SPICY' has no column z for its distance rule" in warnings[3]
    stage = set_up(pickle.loads(pickle.dumps(configured)))  # as the workers get it
    found = stage(batch_of([("x", 1.0, 2.0)])).enrichments["cross_matches"][0]
    assert found == {"GCVS": [{"VarType": "M", "distance_arcsec": 0.0}],
                     "VARS": [{"VarType": "RR", "distance_arcsec": 0.0}]}


def test_real_alerts_match_gcvs_and_spicy_exactly_as_brute_force(
        tmp_path: Path, shared_data: Path) -> None:
    from boom_flow.sources.files import discover, read_packets
    from boom_flow.surveys import build_survey

    specs, references = [], {}
    for name, file, ra, dec in (("GCVS", "gcvs.parquet", "ra", "dec"),
                                ("SPICY", "spicy.parquet", "RAdeg", "DEdeg")):
        table = pq.read_table(shared_data / CATALOGS / file)
        ingest(tmp_path, name, {c: table[c] for c in table.column_names})
        references[name] = (table[ra].to_numpy(), table[dec].to_numpy())
        specs.append(CatalogSpec(name, 2.0, projection={ra: 1, dec: 1}))
    folder = shared_data / "ztf"
    packets = [p for p in read_packets(discover(folder / "alerts") + discover(folder / "tarballs"))
               if isinstance(p, RawPacket)]
    batch = build_survey("ztf").decode(packets)
    assert len(batch) == 173
    stage = crossmatch_stage(specs, tmp_path)
    found = stage(batch).enrichments["cross_matches"].tolist()
    ra = batch.candidates["ra"].to_numpy(dtype=np.float64)
    dec = batch.candidates["dec"].to_numpy(dtype=np.float64)
    for spec in specs:
        cat_ra, cat_dec = references[spec.catalog]
        separation = separation_arcsec(ra[:, None], dec[:, None], cat_ra[None], cat_dec[None])
        expected = [sorted(np.round(row[row <= 2.0], 6).tolist()) for row in separation]
        got = [sorted(round(m["distance_arcsec"], 6) for m in value[spec.catalog])
               for value in found]
        assert got == expected
        if spec.catalog == "GCVS":
            assert sum(1 for e in expected if e) == 7  # crossmatch.md's reference count


class _Commands(monitoring.CommandListener):
    """A pymongo command listener that records (command, collection)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def started(self, event: Any) -> None:
        self.seen.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest.mark.services
def test_a_batch_costs_the_same_queries_whatever_its_number_of_objects(
        tmp_path: Path, shared_data: Path, settings: Any, mongo_db: Any) -> None:
    """The stage itself never touches the database; with aliases on, the worker adds one
    read of the other survey's aux and at most one bulk write per aux collection."""
    from boom_flow.config.model import CatalogMatchSettings
    from boom_flow.core import RawBatch
    from boom_flow.pipeline.graph import GraphSpec, SourceSpec, StageSpec
    from boom_flow.pipeline.run import make_plan
    from boom_flow.pipeline.worker import Workbench
    from boom_flow.sources.files import discover, read_packets
    from boom_flow.storage import ensure_indexes

    table = pq.read_table(shared_data / CATALOGS / "gcvs.parquet")
    ingest(tmp_path, "GCVS", {c: table[c] for c in table.column_names})
    ensure_indexes(mongo_db, "ZTF")
    listener = _Commands()
    settings = settings.model_copy(update={"crossmatch": settings.crossmatch.model_copy(
        update={"ztf": [CatalogMatchSettings(catalog="GCVS", radius=2.0)]})})
    graph = GraphSpec(survey="ztf", source=SourceSpec(kind="kafka"), stages=[
        StageSpec(name="crossmatch", params={"catalogs_dir": str(tmp_path)})])
    plan = make_plan(settings, graph)
    plan = replace(plan, connections=replace(
        plan.connections, mongo_options={"event_listeners": [listener]}))
    folder = shared_data / "ztf"
    packets = [p for p in read_packets(discover(folder / "alerts") + discover(folder / "tarballs"))
               if isinstance(p, RawPacket)]
    costs = []
    workbench = Workbench.open(plan)
    for chosen in (packets[:5], packets[40:140]):
        listener.seen.clear()
        outcome = workbench.process(RawBatch(packets=tuple(chosen)))
        assert outcome.error is None and outcome.alerts == len(chosen)
        costs.append(list(listener.seen))
        assert len(listener.seen) <= 12
    workbench.close()
    assert costs[0] == costs[1]
    assert ("find", "LSST_alerts_aux") in costs[0]
    # No geo query and nothing read from a catalog collection: catalogs are files.
    assert not any("GCVS" in collection for _, collection in costs[0])


def test_the_configuration_refuses_incomplete_catalog_settings() -> None:
    from boom_flow.config import ConfigError

    with pytest.raises(ConfigError, match=r"crossmatch\.ztf.*use_distance needs distance_key"):
        load_settings(environ={"BOOM_FLOW_CROSSMATCH__ZTF":
                               "[{catalog: NED, radius: 300.0, use_distance: true}]"})
    with pytest.raises(ConfigError, match=r"crossmatch\.lsst\.0\.radius"):
        load_settings(environ={"BOOM_FLOW_CROSSMATCH__LSST": "[{catalog: GCVS, radius: -1}]"})


def test_a_catalog_ingested_again_while_running_is_reloaded(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 4000), rng.uniform(-80, 80, 4000)
    ingest(tmp_path, "CAT", {"ra": ra, "dec": dec, "v": np.zeros(4000)}, max_rows=200)
    stage = crossmatch_stage([CatalogSpec("CAT", 2.0, projection={"v": 1})], tmp_path)
    first = stage(batch_of([("a", ra[0], dec[0])])).enrichments["cross_matches"][0]
    assert [m["v"] for m in first["CAT"]] == [0.0]
    before = stage.matcher.catalogs[0][1]
    assert min(p.order for p in before.partitions) >= 1
    # Order-0 partitions now: none of the files the running stage knows exists any more.
    ingest(tmp_path, "CAT", {"ra": ra, "dec": dec, "v": np.ones(4000)}, max_rows=5000)
    # Another part of the sky: a partition the stage had not read, whose file is gone.
    far = int(np.argmax(separation_arcsec(ra[0], dec[0], ra, dec)))
    later = stage(batch_of([("b", ra[far], dec[far])])).enrichments["cross_matches"][0]
    assert [m["v"] for m in later["CAT"]] == [1.0]
    assert stage.matcher.catalogs[0][1] is not before
    assert {p.order for p in stage.matcher.catalogs[0][1].partitions} == {0}
