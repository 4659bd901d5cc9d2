"""What every command shares: the loaded configuration and uniform failure."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from boom_flow.config import ConfigError, Settings, load_settings


class Context:
    """Loads the configuration once, when a command first needs it."""

    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as error:
                raise click.ClickException(str(error)) from None
        return self._settings


pass_context = click.make_pass_decorator(Context)


@contextmanager
def stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM ends the command as Ctrl-C does, by an exception in the main thread, so
    that what the command started (servers, a Dask cluster, temporary folders) is
    stopped and removed on the way out instead of being left running."""
    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
