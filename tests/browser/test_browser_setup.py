"""The browser harness itself: the system Chromium renders a page served by chatloom."""

from __future__ import annotations

from typing import Any

from tests.support.browser import artifact_path
from tests.support.server import ServerThread


def test_chromium_renders_a_page_from_the_server(browser: Any, server: ServerThread) -> None:
    page = browser.new_page()
    try:
        response = page.goto(f"{server.url}/health")
        assert response is not None and response.status == 200
        assert "ok" in page.content().lower()
        page.screenshot(path=str(artifact_path("browser-setup.png")))
    finally:
        page.close()
