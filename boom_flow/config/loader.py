"""Load the configuration: packaged defaults, then a YAML file, then the environment.

Environment overrides take the form ``BOOM_FLOW_<SECTION>__<KEY>[__<KEY>...]``
(e.g. ``BOOM_FLOW_SERVICES__MONGODB__PORT=27018``); values are read as YAML
scalars, so ``true``, ``5`` and ``[1, 2]`` mean what they look like. A secret can
also be given as a path with the ``_FILE`` suffix
(``BOOM_FLOW_API__SECRET_KEY_FILE=/run/secrets/key``), the way container
platforms mount them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from boom_flow.config.model import SECRET_FIELDS, Settings

ENV_PREFIX = "BOOM_FLOW_"
#: Names the configuration file; not itself a setting.
CONFIG_PATH_VARIABLE = "BOOM_FLOW_CONFIG"
#: Where the project's real test data lies (tests and benchmarks); not a setting either.
SHARED_DATA_VARIABLE = "BOOM_FLOW_SHARED_DATA"
_NOT_SETTINGS = frozenset({CONFIG_PATH_VARIABLE, SHARED_DATA_VARIABLE})
_FILE_SUFFIX = "_file"


def shared_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the project's real test data lies (tests and benchmarks only):
    ``$BOOM_FLOW_SHARED_DATA``, else ``shared/data`` beside the checkout. It may not
    exist: a fresh clone has none, and what needs it says so and skips."""
    environ = os.environ if environ is None else environ
    if environ.get(SHARED_DATA_VARIABLE):
        return Path(environ[SHARED_DATA_VARIABLE])
    return Path(__file__).resolve().parents[3] / "shared" / "data"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


def packaged_defaults() -> dict[str, Any]:
    text = resources.files("boom_flow.config").joinpath("defaults.yaml").read_text()
    return yaml.safe_load(text)


def load_settings(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the validated settings; raise ``ConfigError`` naming the bad key."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get(CONFIG_PATH_VARIABLE):
        path = environ[CONFIG_PATH_VARIABLE]
    data = packaged_defaults()
    sources: dict[tuple[str, ...], str] = {}
    if path is not None:
        _merge(data, _read_yaml(Path(path)), sources, f"file {path}", ())
    for name, keys, value in _environment_overrides(environ):
        _merge(data, _nest(keys, value), sources, f"environment variable {name}", ())
    _resolve_secret_files(data, sources, ())
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error, sources)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"configuration file {path} is not valid YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"configuration file {path} must hold a mapping of sections")
    return loaded


def _environment_overrides(environ: Mapping[str, str]) -> list[tuple[str, list[str], Any]]:
    overrides = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if any(not key for key in keys):
            raise ConfigError(f"environment variable {name}: empty key between '__'")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        overrides.append((name, keys, value))
    return overrides


def _nest(keys: list[str], value: Any) -> dict[str, Any]:
    nested: Any = value
    for key in reversed(keys):
        nested = {key: nested}
    return nested


def _merge(
    base: dict[str, Any],
    update: dict[str, Any],
    sources: dict[tuple[str, ...], str],
    source: str,
    prefix: tuple[str, ...],
) -> None:
    """Deep-merge ``update`` into ``base``, remembering where each leaf came from."""
    for key, value in update.items():
        loc = (*prefix, str(key))
        if isinstance(value, dict) and isinstance(base.get(key), dict) and value:
            _merge(base[key], value, sources, source, loc)
        else:
            base[key] = value
            sources[loc] = source


def _resolve_secret_files(
    data: dict[str, Any], sources: dict[tuple[str, ...], str], prefix: tuple[str, ...]
) -> None:
    """Replace ``<secret>_file: PATH`` with the secret read from PATH."""
    for key in list(data):
        value = data[key]
        loc = (*prefix, key)
        if isinstance(value, dict):
            _resolve_secret_files(value, sources, loc)
            continue
        if not key.endswith(_FILE_SUFFIX) or key[: -len(_FILE_SUFFIX)] not in SECRET_FIELDS:
            continue
        secret_key = key[: -len(_FILE_SUFFIX)]
        try:
            secret = Path(str(value)).expanduser().read_text().strip()
        except OSError as error:
            raise ConfigError(
                f"{'.'.join(loc)} = {value!r} ({sources.get(loc, 'configuration')}): "
                f"cannot read the secret file: {error.strerror}"
            ) from None
        del data[key]
        data[secret_key] = secret
        sources[(*prefix, secret_key)] = sources.get(loc, "a secret file")


def _describe(error: ValidationError, sources: dict[tuple[str, ...], str]) -> str:
    lines = ["invalid configuration:"]
    for problem in error.errors():
        loc = tuple(str(part) for part in problem["loc"])
        key = ".".join(loc) or "(top level)"
        source = sources.get(loc, "packaged defaults" if loc else "configuration")
        if problem["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(loc[:-1]))
            lines.append(f"  {key}: unknown key ({source}); allowed keys here: {allowed}")
            continue
        value = problem.get("input")
        shown = "<secret>" if loc and loc[-1] in SECRET_FIELDS else repr(value)
        if isinstance(value, dict):
            lines.append(f"  {key}: {problem['msg']}")
        else:
            lines.append(f"  {key} = {shown} ({source}): {problem['msg']}")
    return "\n".join(lines)


def _allowed_keys(loc: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in loc:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
