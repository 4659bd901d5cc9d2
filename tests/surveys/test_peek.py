"""Reading a packet's object id without decoding it (what routing by object uses)."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro
import pytest

from boom_flow.core.batch import RawPacket
from boom_flow.simulate import NightSpec, simulate_night
from boom_flow.surveys import build_survey
from boom_flow.surveys.lsst import lsst_survey
from boom_flow.surveys.peek import compile_peek
from boom_flow.surveys.ztf import ztf_survey


def _encoded(schema: dict, record: dict) -> tuple[object, bytes]:
    parsed = fastavro.parse_schema(schema)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    return parsed, out.getvalue()


def test_a_peek_skips_every_plain_kind_of_field_before_the_one_it_reads() -> None:
    inner = {"type": "record", "name": "inner", "fields": [
        {"name": "flag", "type": "boolean"}, {"name": "when", "type": "double"},
        {"name": "id", "type": ["null", "long"]}]}
    schema = {"type": "record", "name": "outer", "fields": [
        {"name": "version", "type": "string"}, {"name": "blob", "type": "bytes"},
        {"name": "n", "type": "int"}, {"name": "ratio", "type": "float"},
        {"name": "kind", "type": {"type": "enum", "name": "k", "symbols": ["a", "b"]}},
        {"name": "hash", "type": {"type": "fixed", "name": "h", "size": 4}},
        {"name": "maybe", "type": ["null", "string"]},
        {"name": "source", "type": inner}, {"name": "tail", "type": "string"}]}
    record = {"version": "4.02", "blob": b"\x00\x01", "n": -7, "ratio": 0.5, "kind": "b",
              "hash": b"abcd", "maybe": "x",
              "source": {"flag": True, "when": 1.5, "id": 2**60 + 3}, "tail": "end"}
    parsed, data = _encoded(schema, record)
    assert compile_peek(parsed, ("tail",))(data) == "end"
    assert compile_peek(parsed, ("source", "id"))(data) == 2**60 + 3
    assert compile_peek(parsed, ("maybe",))(data) == "x"
    assert compile_peek(parsed, ("nowhere",)) is None


def test_no_peek_past_an_array_or_a_map() -> None:
    schema = {"type": "record", "name": "r", "fields": [
        {"name": "points", "type": {"type": "array", "items": "double"}},
        {"name": "objectId", "type": "string"}]}
    parsed, _ = _encoded(schema, {"points": [1.0], "objectId": "A"})
    assert compile_peek(parsed, ("objectId",)) is None


def test_simulated_ztf_packets_give_the_object_ids_their_decode_gives() -> None:
    spec = NightSpec(survey="ztf", n_alerts=60, n_objects=20, prior_nights=1, seed=5)
    packets = [RawPacket(alert.packet, "sim") for alert in simulate_night(spec)]
    survey = build_survey("ztf")
    assert [survey.object_key(p) for p in packets] == survey.decode(packets).alerts[
        "objectId"].tolist()


def test_what_cannot_be_peeked_has_no_key_and_is_still_rejected_by_the_decode() -> None:
    spec = NightSpec(survey="ztf", n_alerts=1, n_objects=1, seed=5)
    (alert,) = simulate_night(spec)
    survey = ztf_survey()
    for data in (b"", b"junk", alert.packet[:40], b"Obj\x01" + b"\xff" * 20):
        packet = RawPacket(data, "bad")
        assert survey.object_key(packet) is None
        assert len(survey.decode([packet]).rejected) == 1


def test_real_ztf_packets(ztf_packets: list[RawPacket]) -> None:
    survey = ztf_survey()
    keys = [survey.object_key(p) for p in ztf_packets]
    assert keys == survey.decode(ztf_packets).alerts["objectId"].tolist()


def test_real_lsst_packets(shared_data: Path, lsst_schema_dir: Path) -> None:
    # Wire-format packets and containers (a container of several alerts is routed by
    # its first alert's object).
    root = shared_data / "lsst"
    files = sorted([*root.glob("wire_format/*.avro"), *root.glob("or4_comcamsim_v7_1/*.avro"),
                    *root.glob("ocf/*.avro")])
    survey = lsst_survey(schema_dir=lsst_schema_dir, use_package=False)
    firsts = []
    for path in files:
        packet = RawPacket(path.read_bytes(), str(path))
        (first, *_) = survey.decode([packet]).alerts["objectId"].tolist()
        firsts.append((survey.object_key(packet), first or None))
    assert len(firsts) > 50
    assert [key for key, _ in firsts] == [first for _, first in firsts]


@pytest.mark.parametrize("data", [b"\x00\x00\x00\x02\xbd", b"\x00\x00\x00\x00\x01" + b"\x80"])
def test_lsst_wire_packets_with_an_unknown_schema_or_cut_short_have_no_key(
        data: bytes, lsst_schema_dir: Path) -> None:
    survey = lsst_survey(schema_dir=lsst_schema_dir, use_package=False)
    assert survey.object_key(RawPacket(data, "bad")) is None
