"""Vapi's official chat widget for browser tests: its standalone bundle, fetched once from the npm registry
with `npm pack` into a cache outside the repository, checked against a pinned digest, and served with a
page from a loopback origin of its own.

When npm or the registry cannot be reached, the test is skipped loudly (recorded for the run's summary).
"""

from __future__ import annotations

import hashlib
import html
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from aiohttp import web

from chatloom.testing.loopback import LoopbackServer

WIDGET_PACKAGE = "@vapi-ai/client-sdk-react"
WIDGET_VERSION = "0.1.1"
WIDGET_BUNDLE = "package/dist/embed/widget.umd.js"
"""The standalone build (React included) that defines `<vapi-widget>`; the README's embed snippet loads it."""
WIDGET_SHA256 = "1a0d0acfc6738e469f59ff131c1318a9d19e49c2695dfa7863becce5fb3fb22e"
NPM_TIMEOUT_SECONDS = 180

WIDGET_SKIPS: list[str] = []
"""Why widget tests were skipped in this run (printed loudly at the end by tests/conftest.py)."""


def cache_dir() -> Path:
    configured = os.environ.get("CHATLOOM_TEST_CACHE")
    base = Path(configured) if configured else Path.home() / ".cache" / "chatloom-test"
    return base / "npm"


def skip_widget(reason: str) -> None:
    message = f"widget tests skipped: {reason}"
    if message not in WIDGET_SKIPS:
        WIDGET_SKIPS.append(message)
    pytest.skip(message)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def widget_bundle() -> Path:
    """The pinned widget bundle: from the cache, else fetched with `npm pack` (skips loudly on failure)."""
    target = cache_dir() / f"client-sdk-react-{WIDGET_VERSION}" / "widget.umd.js"
    if target.exists() and _digest(target) == WIDGET_SHA256:
        return target
    npm = shutil.which("npm")
    if npm is None:
        skip_widget("npm is not installed (install Debian's npm package)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        command = [
            str(npm),
            "pack",
            f"{WIDGET_PACKAGE}@{WIDGET_VERSION}",
            "--pack-destination",
            work,
            "--fetch-timeout=60000",
            "--fetch-retries=2",
            "--fetch-retry-mintimeout=2000",
            "--fetch-retry-maxtimeout=10000",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]
        try:
            result = subprocess.run(
                command, cwd=work, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            skip_widget(f"`npm pack {WIDGET_PACKAGE}` took longer than {NPM_TIMEOUT_SECONDS} s")
        tarballs = list(Path(work).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            said = " / ".join(line.removeprefix("npm error ") for line in result.stderr.splitlines()[:3])
            skip_widget(f"`npm pack {WIDGET_PACKAGE}@{WIDGET_VERSION}` failed: {said[:300]}")
        with tarfile.open(tarballs[0]) as archive:
            member = archive.extractfile(WIDGET_BUNDLE)
            if member is None:
                skip_widget(f"{WIDGET_BUNDLE} is missing from the package")
            partial = Path(work) / "widget.umd.js"
            partial.write_bytes(member.read())
        if _digest(partial) != WIDGET_SHA256:
            pytest.fail(f"{WIDGET_PACKAGE}@{WIDGET_VERSION} does not match its pinned digest")
        partial.replace(target)  # atomic: a concurrent or interrupted run never sees half a file
    return target


def widget_page(api_url: str, public_key: str, assistant_id: str) -> str:
    """A shop page embedding the widget as Vapi's README shows, pointed at chatloom by `api-url`."""
    attributes = {
        "mode": "chat",
        "api-url": api_url,
        "public-key": public_key,
        "assistant-id": assistant_id,
        "title": "Shop assistant",
        "chat-placeholder": "Ask the shop",
    }
    widget = " ".join(f'{name}="{html.escape(value)}"' for name, value in attributes.items())
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Shop</title>"
        '<script src="/widget.umd.js"></script></head>'
        f"<body><h1>The shop</h1><vapi-widget {widget}></vapi-widget></body></html>"
    )


class PageServer(LoopbackServer):
    """Serves one page and the widget bundle from its own origin (`root_url`)."""

    thread_name = "widget-page"

    def __init__(self, page: str, bundle: Path) -> None:
        super().__init__()
        self.page = page
        self.bundle = bundle.read_bytes()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/widget.umd.js":
            return web.Response(body=self.bundle, content_type="application/javascript")
        if request.path == "/":
            return web.Response(text=self.page, content_type="text/html")
        return web.Response(status=404)
