"""Opens the console in a browser context where every address but loopback is blocked and recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.support.browser import artifact_path

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass
class ConsolePage:
    page: Any
    base_url: str
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def open(self, hash_: str = "") -> None:
        self.page.goto(f"{self.base_url}/{hash_}")

    def sign_in(self, key: str) -> None:
        self.open()
        self.page.fill("#api-key", key)
        self.page.click("#sign-in button[type=submit]")
        self.page.wait_for_selector("#sign-out")

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(artifact_path(name)), full_page=True)


def open_console(browser: Any, base_url: str) -> tuple[Any, ConsolePage]:
    """A fresh context (its own sessionStorage) whose requests off loopback are aborted and recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    console = ConsolePage(page, base_url)

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in LOOPBACK:
            route.continue_()
        else:
            console.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)

    def on_console(message: Any) -> None:
        # The browser logs every 4xx answer; the API refusing bad input is expected here.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            console.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.console_errors.append(str(error)))
    page.set_default_timeout(10_000)
    return context, console
