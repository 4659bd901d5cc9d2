"""The archive from a notebook: objects, alerts, cones and filter backtests.

Reads go through the API's own code (``api.objects``, ``api.archive``, ``api.cone``)
with a ``Rights`` value, so a notebook sees exactly what an API user with those rights
would; backtests are ``filters.backtest.test_filter_on_archive``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pymongo.database import Database

from boom_flow.api import archive as views
from boom_flow.api.cone import cone_search
from boom_flow.api.objects import object_alert_query, object_view, pick_alert, stamps
from boom_flow.api.rights import Rights
from boom_flow.explore.views import Alert, Backtest, Cone, Cutouts, ObjectView
from boom_flow.filters.backtest import test_filter_on_archive
from boom_flow.storage import collection_names
from boom_flow.surveys import Survey, get_survey

#: Cone searches: the most documents read for one position.
MAX_CONE_MATCHES = 10_000
_KEEP_OBJECT_ID = {"$project": {"objectId": 1}}


@dataclass
class _ConeQuery:
    """The request ``api.cone.cone_search`` reads (``ConeRequest``)."""

    object_coordinates: dict[str, list[float]]
    radius: float
    unit: str = "arcseconds"
    filter: dict[str, Any] = field(default_factory=dict)
    projection: dict[str, Any] | None = None
    skip: int = 0
    sort: Any = None


class Archive:
    """One database of the archive, seen with ``rights`` (default: everything).

    >>> archive = session.archive()                      # doctest: +SKIP
    >>> archive.object("ZTF24aaaaaab").plot()            # doctest: +SKIP
    >>> archive.cone(150.1, 2.2, radius_arcsec=30)       # doctest: +SKIP
    """

    def __init__(self, db: Database, rights: Rights | None = None, survey: str = "ZTF") -> None:
        self.db = db
        self.rights = rights or Rights()
        self.survey: Survey = get_survey(survey)
        self.names = collection_names(self.survey.name)

    def object_ids(self, limit: int = 20, min_alerts: int = 1) -> list[Any]:
        """Objects with at least ``min_alerts`` alerts, most alerts first."""
        found = views.aggregate(self.db, self.names["alerts"], [
            *views.view_stages(self.names["alerts"], self.rights),
            {"$group": {"_id": "$objectId", "n": {"$sum": 1}}},
            {"$match": {"n": {"$gte": min_alerts}}}, {"$sort": {"n": -1, "_id": 1}},
            {"$limit": limit}])
        return [doc["_id"] for doc in found]

    def object(self, object_id: Any, which: str = "last") -> ObjectView:
        """An object: alerts, light curve, cross-matches, aliases, classifications, and
        the cutouts of its ``which`` alert (first, last, brightest, faintest)."""
        oid = self.survey.object_id_type(object_id)
        data = object_view(self.db, self.survey, oid, self.rights)
        if data is None:
            raise KeyError(f"{self.survey.name} object {object_id!r} is not in this archive")
        query, sort = object_alert_query(self.survey, oid, which, None)
        alert = pick_alert(self.db, self.survey, self.rights, query, sort)
        cutouts = self._cutouts(alert["_id"]) if alert else None
        return ObjectView(data, self.survey.name, cutouts)

    def alert(self, candid: int) -> Alert:
        """One alert document and its cutouts."""
        found = list(views.find(self.db, self.names["alerts"], self.rights,
                                {"_id": int(candid)}, limit=1))
        if not found:
            raise KeyError(f"{self.survey.name} alert {candid} is not in this archive")
        return Alert(found[0], self._cutouts(int(candid)), self.survey.name)

    def _cutouts(self, candid: int) -> Cutouts | None:
        found = stamps(self.db, self.survey, [candid]).get(candid)
        return Cutouts(candid, found, self.survey.name) if found else None

    def cone(self, ra: float, dec: float, radius_arcsec: float,
             catalog: str | None = None, filter: dict[str, Any] | None = None) -> Cone:
        """The documents of ``catalog`` (default: the survey's objects, ``{S}_alerts_aux``)
        within ``radius_arcsec`` of (ra, dec), nearest first."""
        catalog = catalog or self.names["alerts_aux"]
        query = _ConeQuery({"centre": [float(ra), float(dec)]}, float(radius_arcsec),
                           filter=filter or {},
                           projection={"objectId": 1, "coordinates.radec_geojson": 1})
        found = cone_search(self.db, catalog, self.rights, query, limit=MAX_CONE_MATCHES,
                            max_matches=MAX_CONE_MATCHES)["centre"]
        return Cone(float(ra), float(dec), float(radius_arcsec), catalog, found)

    def jd_range(self) -> tuple[float, float]:
        """The first and last alert times (JD) of the archive."""
        name = self.names["alerts"]
        ends = [list(views.find(self.db, name, self.rights, {}, projection={"candidate.jd": 1},
                                sort=[("candidate.jd", order)], limit=1))
                for order in (1, -1)]
        if not ends[0]:
            raise ValueError("the archive holds no alert")
        return ends[0][0]["candidate"]["jd"], ends[1][0]["candidate"]["jd"]

    def backtest(self, pipeline: list[dict[str, Any]] | str,
                 start_jd: float | None = None, end_jd: float | None = None,
                 permissions: dict[str, list[int]] | None = None) -> Backtest:
        """Run ``pipeline`` over the stored alerts of [start_jd, end_jd] (default: the
        whole archive) as the live filter stage would, and count the alerts remaining
        after each stage (the pipeline cut after that stage, ending on a projection)."""
        stages = json.loads(pipeline) if isinstance(pipeline, str) else list(pipeline)
        first, last = self.jd_range()
        start = first if start_jd is None else start_jd
        end = last if end_jd is None else end_jd
        permissions = permissions or {"ZTF": self.rights.programids}

        def run(cut: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return test_filter_on_archive(self.db, survey=self.survey.name, pipeline=cut,
                                          permissions=permissions, start_jd=start, end_jd=end)

        alerts = views.count(self.db, self.names["alerts"], self.rights,
                             {"candidate.jd": {"$gte": start, "$lte": end}})
        outputs = run(stages)
        remaining = []
        for index, stage in enumerate(stages):
            cut = stages[:index + 1]
            if index == len(stages) - 1:
                count = len(outputs)
            elif not any("$match" in s for s in cut):
                count = alerts  # nothing has been dropped yet
            else:
                count = len(run([*cut, _KEEP_OBJECT_ID]))
            remaining.append((next(iter(stage)), count))
        return Backtest(stages, start, end, alerts, remaining, outputs)
