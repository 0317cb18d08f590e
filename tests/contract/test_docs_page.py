"""`/docs` works offline: the page and every asset it references come from chatloom itself."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import httpx

from tests.support.browser import artifact_path
from tests.support.server import ServerThread

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class AssetLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.links.append(value)


def test_docs_page_and_its_assets_are_served_locally(server: ServerThread) -> None:
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text
    parser = AssetLinks()
    parser.feed(page.text)
    assert len(parser.links) == 3, parser.links
    for link in parser.links:
        assert link.startswith("/"), link
        asset = httpx.get(f"{server.url}{link}")
        assert asset.status_code == 200, link
        suffix = link[link.rindex(".") :]
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[suffix]), (link, asset.headers)
        assert len(asset.content) > 1000, link
    assert "'/api-json'" in page.text


def test_swagger_ui_renders_every_operation_from_local_assets(browser: Any, server: ServerThread) -> None:
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        response = page.goto(f"{server.url}/docs")
        assert response is not None and response.status == 200
        page.wait_for_selector(".opblock", timeout=15_000)
        paths = httpx.get(f"{server.url}/api-json").json()["paths"]
        assert page.locator(".opblock").count() == sum(len(item) for item in paths.values())
        page.screenshot(path=str(artifact_path("docs.png")), full_page=False)
    finally:
        page.close()
    assert requested and all(url.startswith(server.url) for url in requested), requested
