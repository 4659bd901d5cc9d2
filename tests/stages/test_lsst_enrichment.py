"""LSST enrichment through the worker with ``graphs/lsst.yaml``: ``properties`` for every
alert (solar-system sources without a diaObject included), star / near_brightstar from a
point-source catalog inside a real footprint MOC, and the packets' ``ssSource`` and MPC
orbits stored and findable by ``ssObjectId``.

Alerts: the real LSST packets of ``../shared/data/lsst`` (wire format and the ops
rehearsal), plus three solar-system sources built on the Rubin 10.0 schema (no real
packet with ``ssSource`` is public): two detections of one asteroid, one with its MPC
orbit, and one of another asteroid."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema
import numpy as np
import pytest
from pymongo.database import Database

from boom_flow.config import load_settings
from boom_flow.core import RawBatch, RawPacket
from boom_flow.core.batch import records_from_table
from boom_flow.crossmatch.footprint import Footprint
from boom_flow.pipeline.graph import load_graph
from boom_flow.pipeline.run import make_plan
from boom_flow.pipeline.worker import Workbench
from boom_flow.sources.files import discover, read_packets
from boom_flow.storage import ensure_indexes
from boom_flow.surveys import build_survey
from tests.crossmatch.helpers import ingest

pytestmark = [pytest.mark.services, pytest.mark.shared_data]

GRAPH = Path(__file__).parents[2] / "graphs" / "lsst.yaml"
MOC = "catalogs/boom/ls_footprint_moc.fits"
#: (ssObjectId, ra, dec, with an MPC orbit)
SOLAR_SYSTEM = [(4_200_001, 10.5, -5.0, True), (4_200_001, 10.5005, -5.0002, False),
                (4_200_002, 200.0, -20.0, False)]
#: A diaObject outside the Legacy Survey footprint: no point source can be known there.
OUTSIDE = (5_300_001, 180.0, -55.0)


def _filled(schema: dict[str, Any], named: dict[str, Any]) -> dict[str, Any]:
    """A record of ``schema`` with a plausible value in every field."""
    def value(kind: Any, name: str) -> Any:
        if isinstance(kind, list):
            return value(next(k for k in kind if k != "null"), name)
        if isinstance(kind, dict) and kind.get("logicalType") == "timestamp-micros":
            return dt.datetime(2025, 11, 3, 4, 5, 6, tzinfo=dt.UTC)
        if isinstance(kind, dict):
            return value(kind["type"], name)
        return {"long": 7, "int": 3, "double": 0.25, "float": 0.5, "boolean": False,
                "string": f"{name}-2025 AB"}.get(kind) if kind in (
            "long", "int", "double", "float", "boolean", "string") else _filled(named[kind],
                                                                                named)
    return {f["name"]: value(f["type"], f["name"]) for f in schema["fields"]}


def solar_system_packets(shared: Path) -> list[RawPacket]:
    schema = fastavro.schema.load_schema(
        str(shared / "lsst/schema/10_0/lsst.v10_0.alert.avsc"))
    named = schema["__named_schemas"]
    (sample,) = list(fastavro.reader(io.BytesIO(
        (shared / "lsst/synthetic_fake/fakeAlert_v10_0.avro").read_bytes())))
    packets = []
    for number, (ss_id, ra, dec, orbit) in enumerate(SOLAR_SYSTEM):
        source = {**sample["diaSource"], "diaSourceId": 9_100_000 + number, "ra": ra,
                  "dec": dec, "diaObjectId": None, "ssObjectId": ss_id,
                  "midpointMjdTai": 60980.1 + number / 100}
        ss_source = {**_filled(named["lsst.v10_0.ssSource"], named),
                     "diaSourceId": source["diaSourceId"], "ssObjectId": ss_id}
        record = {**sample, "diaSourceId": source["diaSourceId"], "diaSource": source,
                  "diaObject": None, "prvDiaSources": None, "ssSource": ss_source,
                  "mpc_orbits": ({**_filled(named["lsst.v10_0.mpc_orbits"], named),
                                  "designation": "2025 AB"} if orbit else None)}
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, record)
        packets.append(RawPacket(b"\x00" + (1000).to_bytes(4, "big") + buffer.getvalue(),
                                 f"sso-{number}"))
    object_id, ra, dec = OUTSIDE
    record = {**sample, "diaSourceId": 9_200_000,
              "diaSource": {**sample["diaSource"], "diaSourceId": 9_200_000, "ra": ra,
                            "dec": dec, "diaObjectId": object_id},
              "diaObject": {**sample["diaObject"], "diaObjectId": object_id}}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    packets.append(RawPacket(b"\x00" + (1000).to_bytes(4, "big") + buffer.getvalue(), "out"))
    return packets


def test_lsst_graph_enriches_every_alert_and_keeps_solar_system_sources(
        environment: dict[str, str], mongo_db: Database, shared_data: Path,
        tmp_path: Path) -> None:
    lsst = shared_data / "lsst"
    real = [p for folder in ("wire_format", "or4_comcamsim_v7_1")
            for p in read_packets(discover(lsst / folder)) if isinstance(p, RawPacket)]
    packets = tuple(real + solar_system_packets(shared_data))
    decoded = build_survey("lsst", schema_dir=str(lsst / "schema")).decode(packets)
    ra = decoded.candidates["ra"].to_numpy(dtype=float)
    dec = decoded.candidates["dec"].to_numpy(dtype=float)
    footprint = Footprint.read(shared_data / MOC)
    inside = footprint.contains(ra, dec)
    objects = [a["objectId"] for a in records_from_table(decoded.alerts)]
    # One object inside the footprint sits on a point source, another near a bright star.
    first_inside = [i for i in np.flatnonzero(inside) if objects[i] is not None]
    star, bright = first_inside[0], next(i for i in first_inside
                                         if objects[i] != objects[first_inside[0]])
    ingest(tmp_path, "LSPSC", {
        "ra": [ra[star] + 0.3 / 3600 / np.cos(np.radians(dec[star])), ra[bright]],
        "dec": [dec[star], dec[bright] + 12 / 3600], "score": [0.95, 0.99],
        "mag_white": [19.0, 13.5]})
    settings = load_settings(environ={
        **environment, "BOOM_FLOW_CROSSMATCH__CATALOGS_DIR": str(tmp_path),
        "BOOM_FLOW_SURVEYS__LSST__SCHEMA_DIR": str(lsst / "schema")})
    graph = load_graph(GRAPH)
    names = [s.name for s in graph.stages]
    assert names[names.index("crossmatch"):] == ["crossmatch", "features", "filter", "write",
                                                 "publish"]
    # No filter is active: the filter stage and its Kafka publisher have nothing to do.
    graph = graph.model_copy(update={"stages": [s for s in graph.stages
                                                if s.name not in ("filter", "publish")]})
    for stage in graph.stages:
        if stage.name == "features":
            stage.params["footprint_moc"] = str(shared_data / MOC)
    ensure_indexes(mongo_db, "lsst")
    workbench = Workbench.open(make_plan(settings, graph))
    try:
        outcome = workbench.process(RawBatch(packets=packets))
    finally:
        workbench.close()
    assert outcome.error is None, outcome.error
    assert outcome.stored == len({a for a in decoded.alerts["_id"].tolist()})

    stored = {d["_id"]: d for d in mongo_db.LSST_alerts.find()}
    ids = decoded.alerts["_id"].tolist()
    assert all("properties" in stored[i] for i in ids)  # ss-only alerts too
    props = [stored[i]["properties"] for i in ids]
    assert props[star]["star"] is True and props[star]["near_brightstar"] is False
    assert props[bright]["near_brightstar"] is True and props[bright]["star"] is False
    outside = [i for i in range(len(ids)) if not inside[i] and objects[i] is not None]
    assert [objects[i] for i in outside] == [OUTSIDE[0]]
    # Nothing matched, and no catalog source could be there: unknown, not false.
    assert all(props[i]["star"] is None and props[i]["near_brightstar"] is None
               for i in outside)
    others = [i for i in first_inside if objects[i] not in (objects[star], objects[bright])]
    assert others and all(props[i]["star"] is False for i in others)
    assert any(p["stationary"] for p in props) and any(p["photstats"] for p in props)

    ss_rows = [i for i, o in enumerate(objects) if o is None]
    assert len(ss_rows) == 3
    for row, (ss_id, _, _, orbit) in zip(ss_rows, SOLAR_SYSTEM, strict=True):
        document = stored[ids[row]]
        assert document["ssObjectId"] == ss_id and document["objectId"] is None
        assert document["properties"]["rock"] is True
        assert document["properties"]["stationary"] is False
        band = document["candidate"]["band"]
        # Each asteroid's own detection only: the two of 4_200_001 are not one light curve.
        assert document["properties"]["photstats"][band]["peak_mag"] == pytest.approx(
            document["candidate"]["magpsf"])
        assert document["ssSource"]["ssObjectId"] == ss_id
        assert document["ssSource"]["diaSourceId"] == ids[row]
        assert ("mpc_orbits" in document) is orbit
    orbit = stored[ids[ss_rows[0]]]["mpc_orbits"]
    assert orbit["designation"] == "2025 AB" and orbit["created_at"].year == 2025
    # Found by ssObjectId (indexed), in time order; no aux document was invented.
    found = list(mongo_db.LSST_alerts.find({"ssObjectId": 4_200_001}).sort("candidate.jd", 1))
    assert [d["_id"] for d in found] == [ids[r] for r in ss_rows[:2]]
    keys = {tuple(ix["key"]) for ix in mongo_db.LSST_alerts.list_indexes()}
    assert ("ssObjectId", "candidate.jd") in keys
    assert mongo_db.LSST_alerts_aux.count_documents({"_id": None}) == 0
