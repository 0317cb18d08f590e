"""The console's static files: served at `/` and `/console/...` with their types, a strict CSP, ETag
revalidation and no cookies; the API's own responses are untouched."""

from __future__ import annotations

import re

import httpx

from chatloom.console.routes import FILES
from tests.support.client import Api


def test_the_page_and_its_modules_are_served_with_a_strict_policy(api: Api) -> None:
    page = httpx.get(f"{api.base_url}/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in page.headers
    assert "<script>" not in page.text, "no inline scripts"
    assert httpx.get(f"{api.base_url}/console/").text == page.text

    for path in re.findall(r'(?:src|href)="(/console/[^"]+)"', page.text):
        asset = httpx.get(f"{api.base_url}{path}")
        assert asset.status_code == 200, path
    module = httpx.get(f"{api.base_url}/console/js/main.js")
    assert module.headers["content-type"] == "text/javascript; charset=utf-8"
    assert httpx.get(f"{api.base_url}/console/console.css").headers["content-type"].startswith("text/css")
    assert module.headers["cache-control"] == "no-cache"
    again = httpx.get(f"{api.base_url}/console/js/main.js", headers={"If-None-Match": module.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_nothing_is_loaded_from_elsewhere(api: Api) -> None:
    assert len(FILES) > 10
    for name in FILES:
        source = httpx.get(f"{api.base_url}/console/{name}").text
        urls = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\s\"'`]*", source)
        # The SVG namespace is a name, not a fetch; example.com only appears in a template to edit.
        allowed = ("http://www.w3.org/2000/svg", "https://example.com/")
        assert [url for url in urls if not url.startswith(allowed)] == [], name


def test_unknown_files_and_traversal_are_404(api: Api) -> None:
    for path in ("/console/nope.js", "/console/../api/app.py", "/console/%2e%2e/routes.py", "/console/js"):
        response = httpx.get(f"{api.base_url}{path}")
        assert response.status_code == 404, path


def test_api_responses_carry_no_console_headers(api: Api) -> None:
    response = api.get("/assistant")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers


def test_the_console_adds_no_middleware() -> None:
    """API requests pass through exactly what they did before: the console is routes only."""
    from chatloom.api.app import create_app

    app = create_app()
    assert all(
        not getattr(m.cls, "__module__", "").startswith("chatloom.console") for m in app.user_middleware
    )
