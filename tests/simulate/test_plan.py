"""The structure of a simulated night: revisits, consistent histories, kinds."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import fastavro
import numpy as np

from boom_flow.simulate import NightSpec, SimulatedAlert, simulate_night


def by_object(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[record["objectId"]].append(record)
    return groups


def separation_arcsec(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    d_ra = (ra1 - ra2 + 180.0) % 360.0 - 180.0
    return 3600.0 * float(np.hypot(d_ra * np.cos(np.radians(dec1)), dec1 - dec2))


def test_objects_are_revisited_during_the_night(ztf_night: list[SimulatedAlert],
                                                ztf_records: list[dict[str, Any]]) -> None:
    groups = by_object(ztf_records)
    assert len(groups) < 0.5 * len(ztf_records)
    visits = np.array([len(g) for g in groups.values()])
    assert (visits >= 3).sum() > 0.2 * len(groups)
    assert len({alert.object_id for alert in ztf_night}) == len(groups)


def test_each_alert_carries_the_earlier_alerts_of_its_object(
        ztf_records: list[dict[str, Any]]) -> None:
    for alerts in by_object(ztf_records).values():
        for later_index, later in enumerate(alerts):
            history = later["prv_candidates"] or []
            by_candid = {e["candid"]: e for e in history if e["candid"] is not None}
            jds = [e["jd"] for e in history]
            assert jds == sorted(jds) and all(jd < later["candidate"]["jd"] for jd in jds)
            for earlier in alerts[:later_index]:
                entry = by_candid[earlier["candid"]]  # the same detection, same values
                for name in ("jd", "magpsf", "sigmapsf", "ra", "dec", "fid", "programid"):
                    assert entry[name] == earlier["candidate"][name]
            if later_index:
                previous = alerts[later_index - 1]
                for counter in ("ndethist", "ncovhist"):
                    assert later["candidate"][counter] > previous["candidate"][counter]
                # History only grows: what the previous alert carried is carried again.
                assert [e["jd"] for e in previous["prv_candidates"] or []] == \
                    [jd for jd in jds if jd < previous["candidate"]["jd"]]
                forced = [e["jd"] for e in later["fp_hists"] or []]
                assert [e["jd"] for e in previous["fp_hists"] or []] == \
                    [jd for jd in forced if jd < previous["candidate"]["jd"]]


def test_detections_of_an_object_agree_within_astrometric_scatter(
        ztf_records: list[dict[str, Any]]) -> None:
    for alerts in by_object(ztf_records).values():
        first = alerts[0]["candidate"]
        points = [a["candidate"] for a in alerts] + [
            e for a in alerts for e in a["prv_candidates"] or [] if e["ra"] is not None]
        for point in points:
            assert separation_arcsec(first["ra"], first["dec"], point["ra"], point["dec"]) < 1.5
        assert len({a["candidate"]["field"] for a in alerts}) == 1


def test_the_kinds_behave_like_their_kind(ztf_night: list[SimulatedAlert],
                                          ztf_records: list[dict[str, Any]]) -> None:
    kinds = defaultdict(list)
    for alert, record in zip(ztf_night, ztf_records, strict=True):
        kinds[alert.kind].append(record)
    assert set(kinds) == {"transient", "variable", "bogus", "moving"}
    variables = [r["candidate"] for r in kinds["variable"]]
    assert np.median([c["sgscore1"] for c in variables]) > 0.95
    assert np.median([c["distpsnr1"] for c in variables]) < 0.6
    assert {c["isdiffpos"] for c in variables} == {"t", "f"}  # flux goes both ways
    assert np.median([r["candidate"]["drb"] for r in kinds["bogus"]]) < 0.2
    assert np.median([r["candidate"]["drb"] for r in kinds["transient"]]) > 0.9
    assert {r["candidate"]["isdiffpos"] for r in kinds["transient"]} == {"t"}
    # Some transients rise and some fade over the plan (history and tonight together).
    slopes = []
    for record in kinds["transient"]:
        points = [(e["jd"], e["magpsf"]) for e in record["prv_candidates"] or []
                  if e["magpsf"] is not None] + [(record["candidate"]["jd"],
                                                  record["candidate"]["magpsf"])]
        if len(points) >= 4 and points[-1][0] - points[0][0] > 2:
            jd, mag = np.array(points).T
            slopes.append(np.polyfit(jd - jd[0], mag, 1)[0])
    assert min(slopes) < -0.05 and max(slopes) > 0.01


def test_moving_objects_are_seen_once_near_a_known_asteroid(
        ztf_night: list[SimulatedAlert], ztf_records: list[dict[str, Any]]) -> None:
    moving = [r for a, r in zip(ztf_night, ztf_records, strict=True) if a.kind == "moving"]
    assert moving
    ids = [r["objectId"] for r in moving]
    assert len(set(ids)) == len(ids)
    assert sum(r["objectId"] in set(ids) for r in ztf_records) == len(ids)
    for record in moving:
        candidate = record["candidate"]
        assert candidate["ssnamenr"] not in (None, "", "null")
        assert 0 <= candidate["ssdistnr"] < 12
        assert all(e["magpsf"] is None for e in record["prv_candidates"] or [])


def test_prior_nights_give_objects_a_history_before_tonight(
        ztf_records: list[dict[str, Any]]) -> None:
    tonight = min(r["candidate"]["jd"] for r in ztf_records)
    earlier = [e for r in ztf_records for e in r["prv_candidates"] or [] if e["jd"] < tonight]
    assert any(e["magpsf"] is not None for e in earlier)
    assert any(e["magpsf"] is None for e in earlier)
    first_alerts = {}
    for record in ztf_records:
        first_alerts.setdefault(record["objectId"], record)
    none_before = [r for r in first_alerts.values() if not r["prv_candidates"]]
    assert len(none_before) < 0.2 * len(first_alerts)


def test_without_prior_nights_history_starts_tonight() -> None:
    spec = NightSpec(n_alerts=120, seed=2)
    entries = []
    for alert in simulate_night(spec):
        record = next(fastavro.reader(io.BytesIO(alert.packet)))
        entries.extend(record["prv_candidates"] or [])
    assert all(e["jd"] >= spec.night_jd for e in entries)
    # Shallow exposures tonight that missed the object: non-detections all the same,
    # with a limit brighter than the object's detections.
    assert any(e["magpsf"] is None for e in entries)


def test_the_object_count_follows_the_spec() -> None:
    alerts = list(simulate_night(NightSpec(n_alerts=300, n_objects=40, seed=4)))
    assert len(alerts) == 300
    assert len({alert.object_id for alert in alerts}) == 40


def test_the_same_seed_and_size_draw_the_same_objects_on_any_night() -> None:
    """What lets earlier nights, simulated on their own, give tonight's objects a past."""
    def objects(spec: NightSpec) -> dict[str, tuple[str, float, float]]:
        out = {}
        for alert in simulate_night(spec):
            candidate = next(fastavro.reader(io.BytesIO(alert.packet)))["candidate"]
            out.setdefault(alert.object_id, (alert.kind, candidate["ra"], candidate["dec"]))
        return out

    tonight = objects(NightSpec(n_alerts=150, seed=8, night_jd=2460500.5, prior_nights=3))
    earlier = objects(NightSpec(n_alerts=150, seed=8, night_jd=2460499.5))
    static = {o for o, (kind, _, _) in tonight.items() if kind != "moving"}
    assert static == {o for o, (kind, _, _) in earlier.items() if kind != "moving"}
    assert not (set(tonight) - static) & set(earlier)  # asteroids: new names every night
    for name in static:
        kind, ra, dec = tonight[name]
        assert earlier[name][0] == kind
        assert separation_arcsec(ra, dec, earlier[name][1], earlier[name][2]) < 1.5
