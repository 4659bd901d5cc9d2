"""Watchlists: uploads checked whole, matching equal to brute force (per-target radii,
RA wrap, poles), and live filters referring to one on real ZTF alerts, with the
backtest over the archive giving the same results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymongo.database import Database

from boom_flow.crossmatch.sky import separation_arcsec
from boom_flow.filters.backtest import test_filter_on_archive
from boom_flow.filters.evaluate import RESULTS
from boom_flow.filters.live import LiveFilters
from boom_flow.filters.store import FilterStore
from boom_flow.filters.watchlists import (
    Watchlist,
    WatchlistError,
    WatchlistStore,
    parse_targets,
)
from boom_flow.stages.filter import FilterStage
from tests.crossmatch.helpers import scatter_around, sky_points
from tests.filters.helpers import ingest, ztf_packets


def test_uploads_in_csv_and_json_and_every_bad_row_named() -> None:
    csv_text = "name,ra,dec,radius\nSN 2024abc,10.5,-20.25,3\nM31 nova,10.68,41.27,1.5\n"
    assert parse_targets(csv_text) == [
        {"name": "SN 2024abc", "ra": 10.5, "dec": -20.25, "radius_arcsec": 3.0},
        {"name": "M31 nova", "ra": 10.68, "dec": 41.27, "radius_arcsec": 1.5}]
    json_text = '{"targets": [{"name": "a", "ra": 1, "dec": 2, "radius_arcsec": 4}]}'
    assert parse_targets(json_text.encode()) == [
        {"name": "a", "ra": 1.0, "dec": 2.0, "radius_arcsec": 4.0}]
    bad = ("name,ra,dec,radius\nok,1,2,3\n,1,2,3\nx,400,2,3\ny,1,2,0\nz,one,2,3\n"
           "w,1,-91,5\nv,1,2,nan\n")
    with pytest.raises(WatchlistError) as refused:
        parse_targets(bad)
    message = str(refused.value)
    assert message.startswith("6 of 7 targets refused, nothing stored")
    for reason in ("row 3: no name", "row 4: ra must be in [0, 360]",
                   "row 5: radius must be in (0, 3600] arcsec", "row 6: ra 'one' is not a number",
                   "row 7: ra must be", "row 8: radius is not finite"):
        assert reason in message
    with pytest.raises(WatchlistError, match="header must name"):
        parse_targets("name,ra,dec\na,1,2\n")
    with pytest.raises(WatchlistError, match="not valid JSON"):
        parse_targets("[{", "json")
    with pytest.raises(WatchlistError, match="no target"):
        parse_targets("[]")


def test_matching_equals_brute_force_with_each_targets_radius() -> None:
    rng = np.random.default_rng(3)
    ra, dec = sky_points(rng, 300)
    ra = np.concatenate([ra, [359.9999, 0.0001, 45.0]])
    dec = np.concatenate([dec, [0.0, 0.0, 89.9999]])
    radius = rng.uniform(1.0, 60.0, len(ra))
    watchlist = Watchlist("w", tuple(f"t{i}" for i in range(len(ra))), ra, dec, radius)
    alerts_ra, alerts_dec = [], []
    for i in range(len(ra)):
        a_ra, a_dec = scatter_around(rng, ra[i], dec[i], 3, 70.0)
        alerts_ra += a_ra.tolist()
        alerts_dec += a_dec.tolist()
    alerts_ra += [np.nan]
    alerts_dec += [1.0]
    alerts_ra, alerts_dec = np.array(alerts_ra), np.array(alerts_dec)
    found = watchlist.match(alerts_ra, alerts_dec)
    separation = separation_arcsec(alerts_ra[:, None], alerts_dec[:, None], ra[None], dec[None])
    for row, matches in enumerate(found):
        within = np.flatnonzero(separation[row] <= radius)
        expected = sorted((separation[row][t], f"t{t}") for t in within)
        if not expected:
            assert matches is None
            continue
        assert [m["name"] for m in matches] == [name for _, name in expected]
        assert [m["distance_arcsec"] for m in matches] == pytest.approx(
            [d for d, _ in expected], abs=1e-6)
    assert sum(m is not None for m in found) > 100 and found[-1] is None


@pytest.mark.services
@pytest.mark.shared_data
def test_a_live_filter_on_a_watchlist_passes_the_alerts_near_it(
        mongo_db: Database, shared_data: Path) -> None:
    packets = ztf_packets(shared_data)
    batches = ingest(mongo_db, "ztf", shared_data, packets, batch_size=10_000)
    positions = {}
    for batch in batches:
        for oid, ra, dec in zip(batch.alerts["objectId"].tolist(),
                                batch.candidates["ra"].tolist(),
                                batch.candidates["dec"].tolist(), strict=True):
            positions.setdefault(oid, (ra, dec))
    chosen = sorted(positions)[:4]
    targets = [{"name": f"near {oid}", "ra": positions[oid][0],
                "dec": positions[oid][1] + 1.0 / 3600, "radius": 2.0} for oid in chosen]
    targets.append({"name": "far", "ra": positions[chosen[0]][0],
                    "dec": positions[chosen[0]][1] + 10.0 / 3600, "radius": 5.0})
    watchlist = WatchlistStore(mongo_db).create(name="mine", user_id="u1", targets=targets)
    pipeline = [{"$match": {"watchlist.0.distance_arcsec": {"$lt": 1.5}}},
                {"$project": {"objectId": 1, "annotations": {
                    "first": {"$arrayElemAt": ["$watchlist.name", 0]}}}}]
    store = FilterStore(mongo_db)
    with pytest.raises(ValueError, match="watchlist 'nope' not found"):
        store.create(name="x", survey="ZTF", user_id="u1", permissions={"ZTF": [1, 2, 3]},
                     pipeline=pipeline, watchlist_id="nope")
    created = store.create(name="watch", survey="ZTF", user_id="u1",
                           permissions={"ZTF": [1, 2, 3]}, pipeline=pipeline,
                           watchlist_id=watchlist["_id"])
    stage = FilterStage(LiveFilters(mongo_db.filters, None, "ZTF"))
    live = []
    jds = []
    for batch in batches:
        filtered = stage(batch)
        for row, result in enumerate(filtered.enrichments[RESULTS].tolist()):
            for passed in result["filters"] if result else ():
                if passed["filter_id"] == created["_id"]:
                    live.append(passed["output"])
                    jds.append(float(batch.candidates["jd"].iloc[row]))
    assert {o["objectId"] for o in live} == set(chosen)
    for output in live:
        matches = output["annotations"]["watchlist"]
        assert output["annotations"]["first"] == f"near {output['objectId']}"
        assert matches[0]["name"] == output["annotations"]["first"]
        assert matches[0]["distance_arcsec"] == pytest.approx(1.0, abs=0.05)
        assert all(m["name"] != "far" or m["distance_arcsec"] <= 5.0 for m in matches)
    tested = test_filter_on_archive(
        mongo_db, survey="ztf", pipeline=pipeline, permissions={"ZTF": [1, 2, 3]},
        start_jd=min(jds) - 1e-6, end_jd=min(jds) + 7 - 1e-3,
        watchlist=Watchlist.of(watchlist))
    window = [o for o, jd in sorted(zip(live, jds, strict=True), key=lambda p: p[1])
              if jd <= min(jds) + 7 - 1e-3]
    assert sorted(map(str, tested)) == sorted(map(str, window)) and tested
