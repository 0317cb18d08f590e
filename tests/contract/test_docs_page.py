"""`/docs` works offline: the page and every asset it references come from chatloom itself."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

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
