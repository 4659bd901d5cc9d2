"""Progress bars for long commands: on a terminal only, on stderr.

``tqdm(disable=None)`` draws nothing when stderr is not a terminal, so logs and pipes
get the commands' own summary lines and no bar noise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tqdm import tqdm


def bar(desc: str, total: int | None = None, unit: str = " alerts", **options: Any) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None,
                dynamic_ncols=True, **options)


def say(message: str) -> None:
    """A line on stderr that does not tear a bar being drawn."""
    tqdm.write(message, file=sys.stderr)


class Phases:
    """One bar per phase of a command, each closed when the next opens: call with the
    phase's name and size, get the function that advances it."""

    def __init__(self, unit: str = " alerts", **options: Any) -> None:
        self.unit = unit
        self.options = options
        self._bar: tqdm | None = None

    def __call__(self, desc: str, total: int) -> Callable[[int], None]:
        self.close()
        self._bar = bar(desc, total, self.unit, **self.options)
        return self._bar.update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Phases:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
