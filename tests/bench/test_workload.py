"""The archive depths a benchmark measures: which nights are stored, which measured."""

from __future__ import annotations

import click
import pytest

from boom_flow.bench.workload import NIGHT_JD, WorkloadSpec, history_nights
from boom_flow.cli.bench import parse_depths


def test_depths_are_parsed_sorted_and_checked() -> None:
    assert parse_depths("1") == (1,)
    assert parse_depths("10,1,1") == (1, 10)
    assert parse_depths(" 0, 3 ") == (0, 3)
    for bad in ("", "x", "1,two", "-1"):
        with pytest.raises(click.BadParameter):
            parse_depths(bad)


def test_nights_of_a_two_depth_run_follow_each_other() -> None:
    spec = WorkloadSpec(mode="quick", n_alerts=10, prior_nights=1, later_depths=(10,))
    assert spec.depths == (1, 10)
    # The first measured night is the workload's night; its one earlier night before it.
    assert spec.night_of(1) == NIGHT_JD
    assert history_nights(spec, stored=0, depth=1) == [NIGHT_JD - 1]
    # After measuring night 1 the archive holds nights 0 and 1: nights 2..9 are stored
    # untimed, then night 10 is measured with ten earlier nights behind it.
    assert history_nights(spec, stored=2, depth=10) == [NIGHT_JD + k for k in range(1, 9)]
    assert spec.night_of(10) == NIGHT_JD + 9


def test_a_single_depth_is_the_reference_layout() -> None:
    spec = WorkloadSpec(mode="full", n_alerts=10)
    assert spec.depths == (1,) and history_nights(spec, 0, 1) == [NIGHT_JD - 1]
    assert WorkloadSpec(mode="quick", n_alerts=10, prior_nights=0).depths == (0,)
