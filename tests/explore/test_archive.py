"""The notebook API over a real database holding a simulated night: the same answers as
the API's code, within the chosen rights; backtests counted stage by stage."""

from __future__ import annotations

from typing import Any

import pymongo
import pytest

from boom_flow.api.objects import object_view
from boom_flow.api.rights import Rights
from boom_flow.core import RawPacket
from boom_flow.explore import Archive
from boom_flow.filters.backtest import test_filter_on_archive
from boom_flow.simulate import NightSpec, simulate_night
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.surveys import build_survey, get_survey

pytestmark = pytest.mark.services

PIPELINE: list[dict[str, Any]] = [
    {"$match": {"candidate.drb": {"$gt": 0.5}}},
    {"$addFields": {"bright": {"$lt": ["$candidate.magpsf", 19.5]}}},
    {"$match": {"bright": True}},
    {"$project": {"objectId": 1, "annotations": {"mag": "$candidate.magpsf"}}},
]


@pytest.fixture
def night(mongo_db: pymongo.database.Database) -> pymongo.database.Database:
    alerts = list(simulate_night(NightSpec(n_alerts=80, seed=21, prior_nights=3)))
    ensure_indexes(mongo_db, "ztf")
    write_batch(mongo_db, build_survey("ztf").decode([RawPacket(a.packet, "s") for a in alerts]))
    return mongo_db


def test_object_is_the_apis_object_view_with_cutouts_and_pictures(night: Any) -> None:
    archive = Archive(night)
    object_id = archive.object_ids(limit=1, min_alerts=2)[0]
    obj = archive.object(object_id)
    assert obj.data == object_view(night, get_survey("ZTF"), object_id, Rights())
    assert obj.cutouts is not None and obj.cutouts.candid == obj.alerts[-1]["_id"]
    assert len(obj.light_curve) >= len(obj.data["prv_candidates"]) > 0
    html = obj._repr_html_()
    assert object_id in html and "<img" in html
    assert obj.plot().axes[0].get_ylabel() == "magnitude (AB)"
    assert [ax.get_title() for ax in obj.cutouts.plot().axes] == [
        "science", "reference", "difference"]
    alert = archive.alert(obj.alerts[-1]["_id"])
    assert alert.candidate["jd"] == obj.alerts[-1]["candidate"]["jd"] and alert.cutouts
    assert "<img" in alert._repr_html_()
    with pytest.raises(KeyError):
        archive.object("ZTF00nothing")


def test_restricted_rights_see_only_their_programids(night: Any) -> None:
    public = Archive(night, Rights(frozenset({1})))
    everything = Archive(night)
    hidden = night.ZTF_alerts.find_one({"candidate.programid": {"$ne": 1}})
    with pytest.raises(KeyError):
        public.alert(hidden["_id"])
    assert everything.alert(hidden["_id"]).candid == hidden["_id"]
    for object_id in public.object_ids(limit=5):
        view = public.object(object_id)
        assert {a["candidate"]["programid"] for a in view.alerts} == {1}
        assert {p["programid"] for p in view.data["prv_candidates"]} == {1}


def test_cone_finds_an_object_at_its_own_position(night: Any) -> None:
    archive = Archive(night)
    alert = night.ZTF_alerts.find_one({})
    ra, dec = alert["candidate"]["ra"], alert["candidate"]["dec"]
    cone = archive.cone(ra, dec, radius_arcsec=5)
    table = cone.table()
    assert alert["objectId"] in set(table["objectId"])
    assert table["distance_arcsec"].is_monotonic_increasing
    assert table["distance_arcsec"].iloc[0] < 1.0
    assert "ΔDec" in cone.plot().axes[0].get_ylabel() and "<table" in cone._repr_html_()


def test_backtest_counts_alerts_after_each_stage(night: Any) -> None:
    archive = Archive(night)
    test = archive.backtest(PIPELINE)
    start, end = archive.jd_range()
    assert (test.start_jd, test.end_jd) == (start, end)
    assert test.alerts == night.ZTF_alerts.count_documents({})
    direct = test_filter_on_archive(night, survey="ZTF", pipeline=PIPELINE,
                                    permissions={"ZTF": [1, 2, 3]}, start_jd=start, end_jd=end)
    assert test.outputs == direct
    drb = night.ZTF_alerts.count_documents({"candidate.drb": {"$gt": 0.5}})
    both = night.ZTF_alerts.count_documents({"candidate.drb": {"$gt": 0.5},
                                            "candidate.magpsf": {"$lt": 19.5}})
    assert test.remaining == [("$match", drb), ("$addFields", drb), ("$match", both),
                              ("$project", both)]
    assert test.alerts > drb > both == test.passed > 0
    assert test.plot().axes[0].get_xlabel() == "alerts remaining"
    assert f"<td style='text-align:left'>{both}</td>" in test._repr_html_()
