"""The stage registry: every registered stage resolves, configures on the driver into
plain data, and the filter stage stays importable without the database client."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from boom_flow.config import load_settings
from boom_flow.stages import (
    STAGES,
    Resources,
    Stage,
    StageConfigError,
    configure_stage,
    stage_class,
)


def test_importing_the_filter_stage_imports_no_database_or_broker_client() -> None:
    code = ("import sys, boom_flow.stages.filter, boom_flow.stages; "
            "print(sorted(m for m in ('pymongo', 'bson', 'redis', 'confluent_kafka') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_resolves_and_configures_into_something_workers_can_unpickle(
        name: str) -> None:
    cls = stage_class(name)
    assert issubclass(cls, Stage) and cls.name == name
    stage = configure_stage(load_settings(environ={}), "ztf", name, {})
    again = pickle.loads(pickle.dumps(stage))
    assert type(again) is cls
    with pytest.raises(StageConfigError, match=f"unknown {name} settings: sparkle"):
        configure_stage(load_settings(environ={}), "ztf", name, {"sparkle": 1})


def test_an_unknown_stage_and_a_missing_resource_are_named() -> None:
    with pytest.raises(StageConfigError, match="unknown stage 'sparkle'; known stages: decode"):
        stage_class("sparkle")
    with pytest.raises(RuntimeError, match="no mongo client on this worker"):
        Resources().get("mongo")
