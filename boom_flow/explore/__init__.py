"""A small Python API for notebooks: replay a night, open the archive, backtest a filter.

Everything returned has a rich HTML repr and a ``.plot()`` (matplotlib, from
``boom_flow.plotting``), so notebook cells stay one line long::

    from boom_flow.explore import Session

    session = Session.start()              # own embedded stack on free ports, temp folder
    night = session.replay_night(300)      # simulate + replay; live on session.dashboard
    night                                  # summary table and stage times

    archive = session.archive()            # or session.archive({"ZTF": [1]}): public view
    obj = archive.object(archive.object_ids(1, min_alerts=2)[0])
    obj.plot()                             # light curve: detections, limits, forced, per band
    obj.cutouts.plot()                     # science / reference / difference, zscaled
    archive.alert(obj.alerts[-1]["_id"])   # one alert with its stamps
    archive.cone(obj.alerts[-1]["candidate"]["ra"], obj.alerts[-1]["candidate"]["dec"], 30)

    test = archive.backtest([{"$match": {"candidate.drb": {"$gt": 0.8}}},
                             {"$project": {"objectId": 1}}])
    test.plot()                            # alerts remaining after each stage
    session.close()

The reads go through the API's own code with the chosen rights, the backtest through
``filters.backtest``, the replay through ``boom-flow demo``'s night: nothing here is a
second implementation.
"""

from __future__ import annotations

from boom_flow.explore.archive import Archive
from boom_flow.explore.session import Session, TrainedModel
from boom_flow.explore.views import Alert, Backtest, Cone, Cutouts, NightReplay, ObjectView

__all__ = ["Alert", "Archive", "Backtest", "Cone", "Cutouts", "NightReplay", "ObjectView",
           "Session", "TrainedModel"]
