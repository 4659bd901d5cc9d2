"""The survey registry: lookup by name, clear errors, surveys built with their options."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from boom_flow.core.batch import RawPacket
from boom_flow.surveys import SURVEYS, Survey, build_survey, get_survey


def test_the_registry_knows_ztf_and_lsst_by_lower_case_name() -> None:
    assert sorted(SURVEYS) == ["lsst", "ztf"]
    assert get_survey("ZTF") is SURVEYS["ztf"] and get_survey("lsst") is SURVEYS["lsst"]
    ztf, lsst = SURVEYS["ztf"], SURVEYS["lsst"]
    assert (ztf.name, ztf.alert_id_field, ztf.object_id_field, ztf.object_id_type) == (
        "ZTF", "candid", "objectId", str)
    assert (lsst.name, lsst.alert_id_field, lsst.object_id_field, lsst.object_id_type) == (
        "LSST", "diaSourceId", "diaObjectId", int)
    assert ztf.data_rights_field == "programid" and lsst.data_rights_field is None
    assert ztf.key == "ztf" and lsst.bands == ("u", "g", "r", "i", "z", "y")


def test_an_unknown_survey_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown survey 'decam'; known surveys: lsst, ztf"):
        get_survey("decam")
    with pytest.raises(ValueError, match="known surveys"):
        build_survey("winter")


def test_a_survey_survives_pickling_with_its_caches(shared_data: Path) -> None:
    """Dask may ship a survey to its workers: the decoder and caches go along."""
    survey = build_survey("lsst", schema_dir=shared_data / "lsst" / "schema")
    packet = RawPacket(next((shared_data / "lsst" / "wire_format").glob("*v7_1*")).read_bytes(),
                       "v7.1")
    assert len(survey.decode([packet])) == 1
    copy = pickle.loads(pickle.dumps(survey))
    assert len(copy.decode([packet])) == 1
    assert copy.decode.resolver.parse_count == 1  # type: ignore[attr-defined]
    assert copy.object_key(packet) == survey.object_key(packet) is not None


def test_build_survey_gives_a_survey_with_its_own_options_and_caches(tmp_path: Path) -> None:
    built = build_survey("lsst", schema_registry_url="http://registry:8081/",
                         schema_dir=str(tmp_path))
    assert isinstance(built, Survey) and built is not SURVEYS["lsst"]
    resolver = built.decode.resolver  # type: ignore[attr-defined]
    assert resolver.registry_url == "http://registry:8081" and resolver.schema_dir == tmp_path
    assert build_survey("ztf").decode is not SURVEYS["ztf"].decode
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "X"  # type: ignore[misc]
