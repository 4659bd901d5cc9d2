"""``/catalogs``: listing (with details), indexes, samples."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, envelope, error

pytestmark = [pytest.mark.services, pytest.mark.shared_data]


def test_list_hides_protected_and_unreadable_collections(api_server: Api) -> None:
    stored = set(api_server.db.list_collection_names())
    assert {"users", "ZTF_alerts_rejected"} <= stored
    with api_server.client("admin") as client:
        names = {c["name"] for c in envelope(client.get("/catalogs"))}
    assert names == stored - {"users", "filters"}
    with api_server.client("public") as client:
        listed = envelope(client.get("/catalogs", params={"get_details": True}))
    names = {c["name"] for c in listed}
    assert names == stored - {"users", "filters", "ZTF_alerts_rejected"}
    details = {c["name"]: c["details"] for c in listed}
    db = api_server.db
    assert details["ZTF_alerts"]["count"] == db.ZTF_alerts.count_documents(
        {"candidate.programid": 1})
    assert details["slow_catalog"]["count"] == 3000
    assert details["slow_catalog"]["size"] > 0
    assert "_id_" in details["ZTF_alerts"]["indexes"]


def test_indexes(api_server: Api) -> None:
    with api_server.client("public") as client:
        indexes = envelope(client.get("/catalogs/ZTF_alerts/indexes"))
        keys = [index["key"] for index in indexes]
        assert {"coordinates.radec_geojson": "2dsphere", "_id": 1} in keys
        assert {"candidate.programid": 1, "candidate.jd": 1} in keys
        error(client.get("/catalogs/users/indexes"), 404)
        error(client.get("/catalogs/ZTF_alerts_rejected/indexes"), 404)


def test_sample(api_server: Api) -> None:
    with api_server.client("public") as client:
        found = envelope(client.get("/catalogs/ZTF_alerts/sample", params={"size": 20}))
        assert len(found) == 20 and len({d["_id"] for d in found}) == 20
        assert all(d["candidate"]["programid"] == 1 for d in found)
        assert len(envelope(client.get("/catalogs/slow_catalog/sample"))) == 1
        error(client.get("/catalogs/ZTF_alerts/sample", params={"size": 1001}), 422)
        error(client.get("/catalogs/ZTF_alerts/sample", params={"size": 0}), 422)
        error(client.get("/catalogs/filters/sample"), 404)
    with api_server.client(None) as anonymous:
        error(anonymous.get("/catalogs"), 401)
