"""The API's /docs page renders (Swagger UI served by the API itself): a headless
Chromium screenshot is not blank. Skips, saying why, without Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import Api
from tests.browser import colours, ink, screenshot

pytestmark = [pytest.mark.services, pytest.mark.shared_data]


def test_docs_screenshot_is_not_blank(api_server: Api, tmp_path: Path) -> None:
    shot = screenshot(api_server.url + "/docs", tmp_path / "docs.png")
    # A blank or failed Swagger page is a few plain lines; the rendered one lists the
    # routes in coloured blocks.
    assert ink(shot) > 0.05 and colours(shot) > 50
