"""What every command shares: the loaded configuration and uniform failure."""

from __future__ import annotations

from pathlib import Path

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
