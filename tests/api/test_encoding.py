"""JSON encoding of archive documents (api.md): exact int64, NaN/Inf as null, ISO-8601
datetimes, ObjectId as string, binary as base64 — unit-level and through the server."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math

import pytest
from bson import Binary, Decimal128, Int64, ObjectId

from boom_flow.api.encoding import dumps, jsonable
from tests.api.conftest import Api, envelope

BIG = 2**62 + 1  # not representable in float64


def test_jsonable_converts_every_bson_type() -> None:
    oid = ObjectId()
    when = dt.datetime(2024, 7, 16, 3, 4, 5, 123000)
    document = {"_id": oid, "big": Int64(BIG), "nan": math.nan, "inf": -math.inf, "ok": 1.5,
                "when": when, "blob": Binary(b"\x00\x01stamp"), "raw": b"\xff",
                "dec": Decimal128("1.25"), "flag": True, "none": None,
                "nested": [{"x": math.inf, "y": [Int64(3)]}]}
    assert jsonable(document) == {
        "_id": str(oid), "big": BIG, "nan": None, "inf": None, "ok": 1.5,
        "when": "2024-07-16T03:04:05.123000+00:00",
        "blob": base64.b64encode(b"\x00\x01stamp").decode(), "raw": "/w==",
        "dec": 1.25, "flag": True, "none": None, "nested": [{"x": None, "y": [3]}]}


def test_dumps_keeps_64_bit_integers_exact() -> None:
    text = dumps({"candid": BIG, "values": [math.nan]}).decode()
    assert text == f'{{"candid":{BIG},"values":[null]}}'
    assert json.loads(text)["candid"] == BIG


@pytest.mark.services
@pytest.mark.shared_data
def test_the_server_encodes_stored_documents(api_server: Api) -> None:
    oid = ObjectId()
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    api_server.db.encoding_catalog.insert_one({
        "_id": oid, "big": Int64(BIG), "nan": math.nan, "inf": math.inf, "when": when,
        "blob": Binary(b"\x00stamp")})
    with api_server.client("public") as client:
        response = client.post("/queries/find", json={"catalog_name": "encoding_catalog"})
    (found,) = envelope(response)
    assert found == {"_id": str(oid), "big": BIG, "nan": None, "inf": None,
                     "when": "2025-01-02T03:04:05+00:00",
                     "blob": base64.b64encode(b"\x00stamp").decode()}
    assert str(BIG) in response.text and "NaN" not in response.text
