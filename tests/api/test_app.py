"""The server process: health, OpenAPI, docs, tokens and the error shape of auth."""

from __future__ import annotations

import datetime as dt

import httpx
import jwt
import pytest

from tests.api.conftest import ADMIN_PASSWORD, Api, envelope, error

pytestmark = [pytest.mark.services, pytest.mark.shared_data]

ROUTES = {
    ("get", "/"), ("get", "/health/ready"), ("post", "/auth"),
    ("post", "/queries/find"), ("post", "/queries/cone_search"), ("post", "/queries/count"),
    ("post", "/queries/estimated_count"), ("post", "/queries/pipeline"),
    ("get", "/catalogs"), ("get", "/catalogs/{name}/indexes"), ("get", "/catalogs/{name}/sample"),
    ("get", "/surveys/{survey}/cutouts"), ("post", "/surveys/{survey}/cutouts"),
    ("get", "/surveys/{survey}/objects/{object_id}"),
    ("get", "/surveys/{survey}/objects/{object_id}/lightcurve.png"),
    ("get", "/surveys/{survey}/ss_objects/{ss_object_id}"),
    ("post", "/watchlists"), ("get", "/watchlists"), ("get", "/watchlists/{watchlist_id}"),
    ("delete", "/watchlists/{watchlist_id}"),
    ("post", "/filters"), ("get", "/filters"), ("get", "/filters/{filter_id}"),
    ("patch", "/filters/{filter_id}"), ("post", "/filters/{filter_id}/versions"),
    ("post", "/filters/test"), ("post", "/filters/test/count"),
    ("get", "/filters/{filter_id}/results"),
    ("post", "/users"), ("get", "/users"), ("delete", "/users/{user_id}"),
}


def test_health_needs_no_token(api_server: Api) -> None:
    data = envelope(httpx.get(api_server.url + "/"))
    assert data["version"]


def test_openapi_lists_every_route_of_the_spec_and_docs_are_served(api_server: Api) -> None:
    document = httpx.get(api_server.url + "/openapi.json").json()
    served = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served == ROUTES
    docs = httpx.get(api_server.url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    # Served by the API itself (no CDN): the docs work on a machine without internet.
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/docs-assets/{asset}" in docs.text
        assert httpx.get(f"{api_server.url}/docs-assets/{asset}").status_code == 200


def test_auth_returns_a_bearer_token_without_envelope(api_server: Api) -> None:
    response = httpx.post(api_server.url + "/auth",
                          data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 7 * 86400
    claims = jwt.decode(body["access_token"], api_server.environment["BOOM_FLOW_API__SECRET_KEY"],
                        algorithms=["HS256"])
    assert claims["username"] == "admin"


def test_auth_also_reads_json_credentials(api_server: Api) -> None:
    response = httpx.post(api_server.url + "/auth",
                          json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"
    error(httpx.post(api_server.url + "/auth", json={"username": "admin"}), 422)
    error(httpx.post(api_server.url + "/auth", json=["admin"]), 422)
    error(httpx.post(api_server.url + "/auth", json={"username": "admin", "password": "x"}),
          401)


def test_wrong_password_missing_fields_and_bad_tokens(api_server: Api) -> None:
    url = api_server.url
    error(httpx.post(url + "/auth", data={"username": "admin", "password": "nope"}), 401)
    error(httpx.post(url + "/auth", data={"username": "nobody-at-all", "password": "x"}), 401)
    assert "password" in error(httpx.post(url + "/auth", data={"username": "admin"}), 422)
    body = {"catalog_name": "ZTF_alerts"}
    assert "missing token" in error(httpx.post(url + "/queries/count", json=body), 401)
    bad = {"Authorization": "Bearer not-a-jwt"}
    assert "invalid" in error(httpx.post(url + "/queries/count", json=body, headers=bad), 401)
    secret = api_server.environment["BOOM_FLOW_API__SECRET_KEY"]
    user_id = api_server.db.users.find_one({"username": "public"})["_id"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    expired = jwt.encode({"sub": user_id, "exp": past}, secret, algorithm="HS256")
    headers = {"Authorization": f"Bearer {expired}"}
    assert "expired" in error(httpx.post(url + "/queries/count", json=body, headers=headers),
                              401)
    forged = jwt.encode({"sub": user_id, "exp": past + dt.timedelta(days=2)},
                        "another-secret-of-at-least-32-bytes!", algorithm="HS256")
    headers = {"Authorization": f"Bearer {forged}"}
    error(httpx.post(url + "/queries/count", json=body, headers=headers), 401)


def test_passwords_are_stored_hashed(api_server: Api) -> None:
    stored = api_server.db.users.find_one({"username": "admin"})
    assert stored["is_admin"] is True
    assert ADMIN_PASSWORD not in str(stored)
    assert stored["password_hash"].startswith("$2")
