"""The activation guard on the real ZTF alerts: the share is measured as the archive
backtest would (the server's own count is the reference), over the last stored night or
a given JD range, and activation over ``max_match_rate`` is refused unless forced."""

from __future__ import annotations

import pytest
from pymongo.database import Database

from boom_flow.filters.guard import FilterTooBroad, last_night, measure_match_rate
from boom_flow.filters.store import FilterStore

BRIGHT = {"candidate.magpsf": {"$lt": 19}}  # most real alerts
BROAD = [{"$match": BRIGHT}, {"$project": {"objectId": 1}}]
NONE = [{"$match": {"candidate.magpsf": {"$lt": 5}}}, {"$project": {"objectId": 1}}]
RIGHTS = {"ZTF": [1, 2]}


def _window_query(window: tuple[float, float]) -> dict:
    return {"candidate.jd": {"$gte": window[0], "$lte": window[1]},
            "candidate.programid": {"$in": [1, 2]}}


def test_the_share_is_measured_on_the_last_stored_night(ztf_archive: Database) -> None:
    window = last_night(ztf_archive, "ZTF", [1, 2])
    latest = max(d["candidate"]["jd"] for d in ztf_archive.ZTF_alerts.find(
        {"candidate.programid": {"$in": [1, 2]}}, {"candidate.jd": 1}))
    assert window == (latest - 1, latest)
    measured = measure_match_rate(ztf_archive, survey="ZTF", pipeline=BROAD,
                                  permissions=RIGHTS)
    alerts = ztf_archive.ZTF_alerts.count_documents(_window_query(window))
    passed = ztf_archive.ZTF_alerts.count_documents({**_window_query(window), **BRIGHT})
    assert (measured.alerts, measured.passed) == (alerts, passed)
    assert alerts >= 1 and measured.rate == passed / alerts


def test_activation_over_the_limit_is_refused_unless_forced(ztf_archive: Database) -> None:
    store = FilterStore(ztf_archive, max_match_rate=0.05)
    everything = (0.0, 3e6)  # every stored alert as the reference
    alerts = ztf_archive.ZTF_alerts.count_documents(_window_query(everything))
    passed = ztf_archive.ZTF_alerts.count_documents({**_window_query(everything), **BRIGHT})
    fields = dict(name="bright", survey="ZTF", user_id="u", permissions=RIGHTS)
    with pytest.raises(FilterTooBroad) as refused:
        store.create(pipeline=BROAD, reference=everything, **fields)
    message = str(refused.value)
    assert f"{100 * passed / alerts:.2f}% pass ({passed} of {alerts} stored ZTF alerts" in message
    assert "filters.max_match_rate = 5%" in message and "force" in message
    assert ztf_archive.filters.count_documents({}) == 0  # nothing stored

    # stored inactive (no check), then activation is refused, then forced
    created = store.create(pipeline=BROAD, active=False, **fields)
    with pytest.raises(FilterTooBroad):
        store.activate(created["_id"], reference=everything)
    assert store.get(created["_id"])["active"] is False
    assert store.activate(created["_id"], force=True)["active"] is True

    # a new live version is checked too; a narrow one passes, with its measurement kept
    with pytest.raises(FilterTooBroad):
        store.add_version(created["_id"], BROAD, reference=everything)
    store.add_version(created["_id"], NONE, reference=everything)
    assert (store.last_match_rate.passed, store.last_match_rate.alerts) == (0, alerts)
    # a JD range without any stored alert measures nothing and refuses nothing
    assert store.create(pipeline=BROAD, reference=(1.0, 2.0), **fields)["active"] is True
    assert store.last_match_rate.rate is None
    # a higher limit lets the broad filter through
    assert FilterStore(ztf_archive, max_match_rate=0.99).create(
        pipeline=BROAD, reference=everything, **fields)["active"] is True
