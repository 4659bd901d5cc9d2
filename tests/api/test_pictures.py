"""Pictures over the API: ``format=png`` cutouts and an object's ``lightcurve.png``, within
the same data rights as the JSON routes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.image import imread

from boom_flow.plotting import figure_png, plot_cutouts, plot_light_curve
from tests.api.conftest import Api, envelope, error
from tests.api.data import MIXED, PRIVATE, REAL_OBJECT

pytestmark = [pytest.mark.services, pytest.mark.shared_data]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _image(response) -> np.ndarray:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG_MAGIC)
    return imread(io.BytesIO(response.content), format="png")


def test_cutouts_as_png_are_the_stored_stamps_drawn(api_server: Api) -> None:
    stored = api_server.db.ZTF_alerts_cutouts.find_one({})
    with api_server.client("admin") as client:
        response = client.get("/surveys/ztf/cutouts",
                              params={"candid": stored["_id"], "format": "png"})
    pixels = _image(response)
    assert pixels.shape[1] > 2 * pixels.shape[0]  # three panels side by side
    assert pixels[..., :3].std() > 0.05  # drawn, not blank
    expected = figure_png(plot_cutouts(stored, title=f"ZTF alert {stored['_id']}"))
    assert response.content == expected


def test_object_light_curve_png_is_drawn_from_the_users_view(api_server: Api) -> None:
    """The public user's picture of a mixed-programid object is the one drawn from their
    JSON view (programid 1 points only), and differs from the admin's."""
    with api_server.client("public") as client:
        view = envelope(client.get(f"/surveys/ztf/objects/{MIXED}"))
        public = client.get(f"/surveys/ztf/objects/{MIXED}/lightcurve.png")
    with api_server.client("admin") as client:
        full = client.get(f"/surveys/ztf/objects/{MIXED}/lightcurve.png")
    _image(public)
    _image(full)
    assert {p["programid"] for p in view["prv_candidates"]} == {1}
    assert public.content == figure_png(plot_light_curve(view, title=f"ZTF {MIXED}"))
    assert public.content != full.content


def test_restricted_users_get_no_pictures_of_hidden_data(api_server: Api) -> None:
    db = api_server.db
    hidden = db.ZTF_alerts.find_one({"candidate.programid": 3, "objectId": MIXED})["_id"]
    with api_server.client("public") as client:
        error(client.get("/surveys/ztf/cutouts", params={"candid": hidden, "format": "png"}),
              404)
        error(client.get("/surveys/ztf/cutouts", params={"objectId": PRIVATE, "format": "png"}),
              404)
        error(client.get(f"/surveys/ztf/objects/{PRIVATE}/lightcurve.png"), 404)
        _image(client.get(f"/surveys/ztf/objects/{REAL_OBJECT}/lightcurve.png"))
    with api_server.client("nobody") as client:
        error(client.get(f"/surveys/ztf/objects/{REAL_OBJECT}/lightcurve.png"), 404)
    with api_server.client("partner") as client:
        _image(client.get(f"/surveys/ztf/objects/{PRIVATE}/lightcurve.png"))
    with api_server.client(None) as client:
        error(client.get(f"/surveys/ztf/objects/{REAL_OBJECT}/lightcurve.png"), 401)
        error(client.get("/surveys/ztf/cutouts", params={"candid": hidden, "format": "png"}),
              401)


def test_png_format_is_validated(api_server: Api) -> None:
    with api_server.client("admin") as client:
        error(client.get("/surveys/ztf/cutouts", params={"objectId": REAL_OBJECT,
                                                         "format": "gif"}), 422)
