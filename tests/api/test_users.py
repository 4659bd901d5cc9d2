"""``/users`` (admins only) and the configured admin account."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Api, envelope, error

pytestmark = [pytest.mark.services, pytest.mark.shared_data]


def test_admin_creates_lists_and_deletes_users(api_server: Api) -> None:
    with api_server.client("admin") as admin:
        created = envelope(admin.post("/users", json={
            "username": "carol", "password": "carol-pw", "email": "carol@example.org",
            "permissions": {"ZTF": [1, 2]}}))
        assert created["username"] == "carol" and created["permissions"] == {"ZTF": [1, 2]}
        assert "password_hash" not in created and "password" not in created
        listed = envelope(admin.get("/users"))
        assert {"admin", "public", "partner", "nobody", "carol"} <= {u["username"]
                                                                    for u in listed}
        assert all("password_hash" not in u for u in listed)
        assert "already exists" in error(admin.post("/users", json={
            "username": "carol", "password": "x"}), 409)
        error(admin.post("/users", json={"username": "dave", "password": "x",
                                         "permissions": {"ZTF": [4]}}), 400)
        error(admin.post("/users", json={"username": "dave"}), 422)
        token = httpx.post(api_server.url + "/auth",
                           data={"username": "carol", "password": "carol-pw"}).json()
        carol = {"Authorization": f"Bearer {token['access_token']}"}
        assert httpx.get(api_server.url + "/catalogs", headers=carol).status_code == 200
        envelope(admin.delete(f"/users/{created['id']}"))
        error(admin.delete(f"/users/{created['id']}"), 404)
        # A deleted user's token stops working at once.
        error(httpx.get(api_server.url + "/catalogs", headers=carol), 401)
        me = next(u for u in listed if u["username"] == "admin")
        error(admin.delete(f"/users/{me['id']}"), 400)


def test_users_routes_are_for_admins_only(api_server: Api) -> None:
    with api_server.client("partner") as client:
        error(client.get("/users"), 403)
        error(client.post("/users", json={"username": "eve", "password": "x"}), 403)
        error(client.delete("/users/whatever"), 403)
    with api_server.client(None) as anonymous:
        error(anonymous.get("/users"), 401)
