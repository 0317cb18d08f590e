"""Vapi's official chat widget, on a page of another origin, chatting with chatloom in headless Chromium."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.browser import artifact_path
from tests.support.client import Api
from tests.support.server import ServerThread
from tests.support.widget import PageServer, widget_bundle, widget_page

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def bundle(browser: Any) -> Path:
    """The widget bundle (asked for after the browser, so a missing browser is the reason given)."""
    return widget_bundle()


@pytest.fixture
def shop(server: ServerThread) -> Iterator[tuple[Api, str]]:
    org = f"shop-{uuid.uuid4().hex[:10]}"
    api = Api(server.url, server.create_key(org))
    yield api, org
    api.close()


def open_chat(browser: Any, url: str) -> tuple[Any, Any, list[int]]:
    """A page at `url` with the widget opened; returns the page, its message box and the statuses of
    its web chat responses."""
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/chat/web") else None)
    page.goto(url)
    page.get_by_text("Shop assistant").click()
    box = page.get_by_placeholder("Ask the shop")
    box.wait_for(timeout=TIMEOUT_MS)
    return page, box, statuses


def send(box: Any, text: str) -> None:
    """Types a message and sends it with Enter, once the widget takes messages again (it ignores Enter
    while the previous reply is still streaming)."""
    from playwright.sync_api import expect

    box.fill(text)
    for _ in range(TIMEOUT_MS // 250):
        box.press("Enter")
        if box.input_value() == "":
            return
        box.page.wait_for_timeout(250)
    expect(box).to_have_value("")


def test_widget_chats_on_an_allowed_origin_only(
    browser: Any,
    bundle: Path,
    server: ServerThread,
    shop: tuple[Api, str],
    fake_llm: FakeLLM,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from playwright.sync_api import expect

    api, org = shop
    assistant = api.create_assistant(name="Shop assistant")
    with PageServer("", bundle) as allowed, PageServer("", bundle) as elsewhere:
        key = server.create_key(org, public=True, origins=[allowed.root_url], assistant_ids=[assistant["id"]])
        allowed.page = elsewhere.page = widget_page(server.url, key, assistant["id"])
        fake_llm.push(
            FakeReply(text="Hello from chatloom!", chunks=["Hello ", "from ", "chatloom!"]),
            FakeReply(chunks=["Your order ", "ships ", "tomorrow."], chunk_delay_seconds=0.6),
        )

        page, box, statuses = open_chat(browser, allowed.root_url)
        try:
            widget = page.locator("vapi-widget")
            send(box, "Hi there")
            expect(widget.get_by_text("Hello from chatloom!")).to_be_visible(timeout=TIMEOUT_MS)
            send(box, "When does my order ship?")
            expect(widget).to_contain_text("Your order", timeout=TIMEOUT_MS)
            assert "tomorrow." not in widget.inner_text(), "the reply appears as it streams"
            page.screenshot(path=str(artifact_path("vapi-widget-mid-conversation.png")))
            expect(widget).to_contain_text("Your order ships tomorrow.", timeout=TIMEOUT_MS)
            page.screenshot(path=str(artifact_path("vapi-widget-conversation.png")))

            # The last words show before the turn is stored (then the stream ends): wait for the store.
            for _ in range(50):
                [session] = api.get("/session", params={"assistantId": assistant["id"]}).json()["results"]
                if len(session["messages"]) == 4:
                    break
                time.sleep(0.1)
            assert [(m["role"], m["content"]) for m in session["messages"]] == [
                ("user", "Hi there"),
                ("assistant", "Hello from chatloom!"),
                ("user", "When does my order ship?"),
                ("assistant", "Your order ships tomorrow."),
            ]

            widget.get_by_text("End Chat").click()  # sends sessionEnd with a short goodbye
            for _ in range(100):
                session = api.get(f"/session/{session['id']}").json()
                if session["status"] == "completed":
                    break
                time.sleep(0.1)
            assert session["status"] == "completed"
            assert session["messages"][4]["role"] == "user" and len(session["messages"]) == 6
        finally:
            page.close()
        assert statuses == [200, 200, 200]

        caplog.set_level(logging.INFO, logger="chatloom.web")
        page, box, statuses = open_chat(browser, elsewhere.root_url)
        try:
            send(box, "Hi from elsewhere")
            page.wait_for_timeout(1_000)
            expect(page.locator("vapi-widget")).not_to_contain_text("You said")
            page.screenshot(path=str(artifact_path("vapi-widget-refused-origin.png")))
        finally:
            page.close()
        assert statuses and set(statuses) == {403}, "refused (and readable: the widget does not retry)"
    refusals = [r.getMessage() for r in caplog.records if r.name == "chatloom.web"]
    assert any("403" in message and elsewhere.root_url in message for message in refusals), refusals
    assert len(api.get("/session", params={"assistantId": assistant["id"]}).json()["results"]) == 1
