"""The activation guard: a filter that would pass too much of a night is not made live.

A filter that passes most alerts floods its owner, the result topic and the Valkey
streams, and costs every worker the outputs; BOOM refuses to activate one that passes
more than 5% of a reference night. Here the reference night is the 24 hours up to the
last alert stored within the filter's rights, or a JD range the caller gives, and the
share is measured by the archive backtest (the live stream's own evaluation, no
look-ahead). ``filters.max_match_rate`` sets the limit; an admin may override it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from boom_flow.filters.backtest import alert_query, backtest_filter, test_filter_on_archive
from boom_flow.storage.archive import collection_names

#: BOOM's limit, the default of ``filters.max_match_rate``.
DEFAULT_MAX_MATCH_RATE = 0.05
#: Length of the default reference night (days before the last stored alert).
NIGHT_DAYS = 1.0
Window = tuple[float, float]


@dataclass(frozen=True)
class MatchRate:
    """How many of a reference window's stored alerts a filter passes."""

    survey: str
    passed: int
    alerts: int
    start_jd: float
    end_jd: float

    @property
    def rate(self) -> float | None:
        """The share passed (None when the window holds no alert: nothing to measure)."""
        return self.passed / self.alerts if self.alerts else None

    def describe(self) -> str:
        if self.rate is None:
            return f"no stored {self.survey} alert to measure the filter on (not checked)"
        return (f"{100 * self.rate:.2f}% pass ({self.passed} of {self.alerts} stored "
                f"{self.survey} alerts with {self.start_jd:.5f} <= jd <= {self.end_jd:.5f})")


class FilterTooBroad(ValueError):
    """Activation refused: the filter passes more than the configured share."""

    def __init__(self, measured: MatchRate, limit: float) -> None:
        self.measured = measured
        self.limit = limit
        super().__init__(
            f"activation refused: {measured.describe()}, more than "
            f"filters.max_match_rate = {100 * limit:g}%. Narrow it (try it with "
            "`boom-flow filters test`), measure it on another night (reference_start_jd/"
            "reference_end_jd, CLI --reference-start-jd/--reference-end-jd), or have an "
            "admin activate it anyway (API \"force\": true, CLI --force)")


def last_night(db: Database, survey: str, programids: Iterable[int] | None) -> Window | None:
    """The 24 hours up to the last stored alert the filter may see (None: no alert)."""
    query: dict[str, Any] = {}
    if programids is not None:
        query["candidate.programid"] = {"$in": list(programids)}
    latest = db[collection_names(survey)["alerts"]].find_one(
        query, {"candidate.jd": 1}, sort=[("candidate.jd", DESCENDING)])
    if latest is None:
        return None
    end = float(latest["candidate"]["jd"])
    return end - NIGHT_DAYS, end


def measure_match_rate(db: Database, *, survey: str, pipeline: Any,
                       permissions: Mapping[str, Iterable[int]] | None,
                       window: Window | None = None) -> MatchRate:
    """The share of the reference window's alerts (default: ``last_night``) that pass."""
    active = backtest_filter(survey, pipeline, permissions)
    if window is None:
        window = last_night(db, survey, active.programids)
        if window is None:
            return MatchRate(survey.upper(), 0, 0, 0.0, 0.0)
    start, end = (float(bound) for bound in window)
    if not start <= end:
        raise ValueError(f"the reference window must have start_jd <= end_jd, not {window}")
    alerts = db[collection_names(survey)["alerts"]].count_documents(
        alert_query(active, start, end))
    passed = len(test_filter_on_archive(db, survey=survey, pipeline=pipeline,
                                        permissions=permissions, start_jd=start,
                                        end_jd=end)) if alerts else 0
    return MatchRate(survey.upper(), passed, alerts, start, end)


@dataclass(frozen=True)
class ActivationGuard:
    """Refuses to make a filter live that passes more than ``max_match_rate``."""

    max_match_rate: float = DEFAULT_MAX_MATCH_RATE

    def check(self, db: Database, *, survey: str, pipeline: Any,
              permissions: Mapping[str, Iterable[int]] | None,
              window: Window | None = None) -> MatchRate:
        """The measurement; ``FilterTooBroad`` when it is over the limit."""
        measured = measure_match_rate(db, survey=survey, pipeline=pipeline,
                                      permissions=permissions, window=window)
        if measured.rate is not None and measured.rate > self.max_match_rate:
            raise FilterTooBroad(measured, self.max_match_rate)
        return measured
