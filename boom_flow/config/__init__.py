"""One typed, validated configuration for every boom_flow process."""

from boom_flow.config.loader import (
    CONFIG_PATH_VARIABLE,
    ENV_PREFIX,
    SHARED_DATA_VARIABLE,
    ConfigError,
    load_settings,
    packaged_defaults,
    shared_data_dir,
)
from boom_flow.config.model import Settings

__all__ = [
    "CONFIG_PATH_VARIABLE",
    "ENV_PREFIX",
    "SHARED_DATA_VARIABLE",
    "ConfigError",
    "Settings",
    "load_settings",
    "packaged_defaults",
    "shared_data_dir",
]
