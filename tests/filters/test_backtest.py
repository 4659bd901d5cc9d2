"""Backtests give the answer the live stream gave: no look-ahead, same documents."""

from __future__ import annotations

from pathlib import Path

from pymongo.database import Database

from boom_flow.core import AlertBatch
from boom_flow.filters import backtest
from boom_flow.filters.evaluate import RESULTS
from boom_flow.stages.filter import filter_batch
from tests.filters.helpers import active, ingest, real_pipeline, server_results, ztf_packets

HISTORY_FILTER = [  # depends on the light curve as it stood: detections before the alert
    {"$match": {"candidate.magpsf": {"$lt": 99}}},
    {"$project": {"objectId": 1, "annotations.n": {"$size": "$prv_candidates"},
                  "annotations.forced": {"$size": "$fp_hists"},
                  "annotations.first": {"$min": "$prv_candidates.jd"}}},
]


def test_backtests_over_the_archive_and_files_give_what_the_live_stage_gave(mongo_db: Database,
                                                            shared_data: Path) -> None:
    pipelines = {"history": HISTORY_FILTER,
                 "fast": real_pipeline(shared_data, "fast.json"),
                 "cats150": real_pipeline(shared_data, "cats150.pipeline.json")}
    filters = [active(name, pipeline, programids=[1]) for name, pipeline in pipelines.items()]
    live: dict[str, list[dict]] = {name: [] for name in pipelines}

    def stage(batch: AlertBatch) -> AlertBatch:
        out = filter_batch(batch, filters)
        for result in out.enrichments[RESULTS].tolist():
            for filter_pass in result["filters"] if result else ():
                live[filter_pass["filter_id"]].append(filter_pass["output"])
        return out

    # The light curve of ZTF21abiuvdk arrives over several batches: the archive ends up
    # holding points later than most of its alerts, which a backtest must not see.
    ingest(mongo_db, "ztf", shared_data, ztf_packets(shared_data), 20, stage)
    for name, pipeline in pipelines.items():
        past = backtest.test_filter_on_archive(
            mongo_db, survey="ztf", pipeline=pipeline, permissions={"ZTF": [1]},
            start_jd=0, end_jd=3e6)
        key = lambda output: output["_id"]  # noqa: E731
        assert sorted(past, key=key) == sorted(live[name], key=key), name
        # SecantusDB gets cats150's rounded annotations and "$array.field" paths wrong:
        # the server is the reference for fast only.
        if name == "fast":
            assert sorted(past, key=key) == sorted(server_results(
                mongo_db, "ZTF", pipeline, (1,)).values(), key=key)
    lightcurve = [o for o in live["history"] if o["objectId"] == "ZTF21abiuvdk"]
    assert len({o["annotations"]["n"] for o in lightcurve}) > 10  # it grew alert by alert

    # The same night replayed from its files, in the same batches, without an archive.
    alerts, replayed = backtest.test_filter_on_files(
        shared_data / "ztf", survey="ztf", pipeline=HISTORY_FILTER, permissions={"ZTF": [1]},
        batch_size=20)
    assert alerts == mongo_db.ZTF_alerts.count_documents({})
    assert sorted(replayed, key=key) == sorted(live["history"], key=key)
    _selections(mongo_db)


def _selections(db: Database) -> None:
    """The archive backtest's window, object ids, alert ids and limit."""
    jds = sorted(d["candidate"]["jd"] for d in db.ZTF_alerts.find(
        {"objectId": "ZTF21abiuvdk"}, {"candidate.jd": 1}))
    run = dict(survey="ZTF", pipeline=HISTORY_FILTER, permissions={"ZTF": [1, 2]})
    window = backtest.test_filter_on_archive(db, start_jd=jds[5], end_jd=jds[9], **run)
    assert [o["objectId"] for o in window].count("ZTF21abiuvdk") == 5
    one = backtest.test_filter_on_archive(db, start_jd=0, end_jd=3e6,
                                          object_ids=["ZTF21abiuvdk"], limit=3, **run)
    assert [o["annotations"]["n"] for o in one] == sorted(o["annotations"]["n"] for o in one)
    assert len(one) == 3 and {o["objectId"] for o in one} == {"ZTF21abiuvdk"}
    first = one[0]["_id"]
    assert [o["_id"] for o in backtest.test_filter_on_archive(
        db, start_jd=0, end_jd=3e6, candids=[first], **run)] == [first]
