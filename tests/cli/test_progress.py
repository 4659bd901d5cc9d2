"""Progress bars show on a terminal and stay out of pipes and logs."""

from __future__ import annotations

import io

import pytest

from boom_flow.cli.progress import Phases, bar


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty", [True, False])
def test_a_bar_draws_only_on_a_terminal(tty: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _Stream(tty)
    monkeypatch.setattr("sys.stderr", stream)
    with bar("replay", 10) as progress:
        progress.update(10)
    assert ("replay" in stream.getvalue() and "10/10" in stream.getvalue()) is tty
    if not tty:
        assert stream.getvalue() == ""


def test_phases_close_each_bar_when_the_next_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _Stream(True)
    monkeypatch.setattr("sys.stderr", stream)
    with Phases() as phases:
        phases("produce", 4)(4)
        first = phases._bar
        phases("throughput", 2)(1)
        # The first bar was closed (tqdm disables a closed bar) at its full count.
        assert first is not None and first.n == 4 and first.disable
        assert first is not phases._bar and phases._bar is not None and phases._bar.n == 1
    assert phases._bar is None
    assert "produce" in stream.getvalue() and "throughput" in stream.getvalue()
