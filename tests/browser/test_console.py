"""The console in headless Chromium, against the real server and the fake LLM, with every address but
loopback blocked: sign in, assistants, playground, chats, costs, errors next to fields, sign out."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, Scripted
from tests.browser.console_page import ConsolePage
from tests.support.client import Api
from tests.support.server import ServerThread

# The pages do not depend on the database: one backend is enough here (the API tests run both).
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

VAPI_ASSISTANT = """{
  "id": "9a1c2f4e-0000-4000-8000-000000000001",
  "orgId": "4f0c1a2b-0000-4000-8000-000000000002",
  "name": "Imported helper",
  "voice": {"provider": "11labs", "voiceId": "burt"},
  "transcriber": {"provider": "deepgram", "model": "nova-2"},
  "model": {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "temperature": 0.3,
    "messages": [{"role": "system", "content": "You help {{ customerName }} with their order."}]
  },
  "firstMessage": "Hello!",
  "createdAt": "2025-01-01T00:00:00.000Z",
  "updatedAt": "2025-01-01T00:00:00.000Z"
}"""
CHATLOOM = str(Path(sys.executable).with_name("chatloom"))


def test_a_prompt_writer_builds_tries_and_inspects_an_assistant(
    console: ConsolePage, api: Api, fake_llm: FakeLLM
) -> None:
    page = console.page
    console.sign_in(api.key)
    assert api.key not in page.url
    assert page.evaluate("() => sessionStorage.getItem('chatloom.apiKey')") == api.key
    assert page.context.cookies() == [], "the key is never a cookie"
    console.screenshot("console-1-assistants.png")

    # Create an assistant by pasting a Vapi assistant's JSON.
    page.click("#import-assistant")
    page.fill("#assistant-json", VAPI_ASSISTANT)
    page.click("#save-assistant")
    page.wait_for_selector("#assistant-id")
    assistant_id = page.inner_text("#assistant-id")
    stored = api.get(f"/assistant/{assistant_id}").json()
    assert stored["name"] == "Imported helper" and stored["voice"]["voiceId"] == "burt"
    assert stored["id"] != "9a1c2f4e-0000-4000-8000-000000000001"
    console.screenshot("console-2-imported-assistant.png")

    # Chat with it in the playground: the reply streams in, then the turn shows its model and cost.
    page.click("text=Open in playground")
    page.fill("#var-customerName", "Ada")
    fake_llm.push(
        FakeReply(chunks=["Hello ", "Ada, ", "your ", "order ", "ships ", "today."], chunk_delay_seconds=0.15)
    )
    page.fill("#playground-input", "Where is my order?")
    page.click("#playground-send")
    page.wait_for_selector(".text.streaming", state="attached")
    page.wait_for_function(
        "() => { const t = document.querySelector('.text.streaming'); "
        "return t && t.textContent.length > 0 && !t.textContent.includes('today.'); }"
    )
    page.wait_for_selector(".turn-meta")
    assert "Hello Ada, your order ships today." in page.inner_text("#conversation")
    meta = page.inner_text(".turn-meta")
    assert "gpt-4o-mini" in meta and "$" in meta
    prompt = fake_llm.requests[-1].json["messages"][0]
    assert prompt == {"role": "system", "content": "You help Ada with their order."}
    console.screenshot("console-3-playground.png")
    session_id = page.input_value("#playground-session")
    assert session_id and f"session={session_id}" in page.url
    chat_id = page.get_attribute(".turn-meta", "data-chat-id")
    chat = api.get(f"/chat/{chat_id}").json()
    assert chat["cost"] > 0

    # Another assistant's chat, so the filter has something to leave out.
    other = api.create_assistant(name="Other")
    other_chat = api.chat(assistantId=other["id"], input="elsewhere")

    # Find the chat in the list by filtering on its assistant, then open its transcript.
    page.click("header nav >> text=Chats")
    page.wait_for_selector("#chat-list")
    assert page.locator(f"#chat-list tr[data-id='{other_chat['id']}']").count() == 1
    page.select_option("#filter-assistant", assistant_id)
    page.click("#chat-filters button[type=submit]")
    page.wait_for_selector(f"#chat-list tr[data-id='{chat_id}']")
    assert page.locator(f"#chat-list tr[data-id='{other_chat['id']}']").count() == 0
    console.screenshot("console-4-chats.png")
    page.fill("#filter-to", "2020-01-01T00:00")
    page.click("#chat-filters button[type=submit]")
    page.wait_for_selector("text=No chats match.")
    page.fill("#filter-to", "")
    page.fill("#filter-from", "2020-01-01T00:00")
    page.click("#chat-filters button[type=submit]")
    page.wait_for_selector(f"#chat-list tr[data-id='{chat_id}']")
    page.click(f"#chat-list tr[data-id='{chat_id}'] a")
    page.wait_for_selector("#transcript")
    assert "Where is my order?" in page.inner_text("#transcript")
    assert page.inner_text(".chat-cost") == money(chat["cost"])
    console.screenshot("console-5-transcript.png")

    # The cost chart shows today's cost.
    page.click("header nav >> text=Costs")
    page.wait_for_selector("#cost-chart svg")
    today = page.locator("#cost-chart g.bar").last
    assert float(today.get_attribute("data-cost") or 0) == pytest.approx(chat["cost"] + other_chat["cost"])
    assert today.locator("rect").count() == 2
    assert page.inner_text("#total-cost") == money(chat["cost"] + other_chat["cost"])
    assert "Imported helper" in page.inner_text("#cost-totals")
    console.screenshot("console-6-costs.png")
    page.click("#group-by-model")
    page.wait_for_selector("#cost-totals >> text=gpt-4o-mini")

    # An invalid edit shows the API's message next to the field it names.
    page.goto(f"{console.base_url}/#/assistants/{assistant_id}")
    page.fill("#temperature", "5")
    page.click("#save-assistant")
    error = page.wait_for_selector(".field-error[data-for='model.temperature']")
    assert "model.temperature" in error.inner_text() and "2" in error.inner_text()
    assert page.get_attribute("#temperature", "aria-invalid") == "true"
    assert page.locator(".field-error").count() == 1, "the other fields were sent as they were"
    console.screenshot("console-7-invalid-edit.png")
    assert api.get(f"/assistant/{assistant_id}").json()["model"]["temperature"] == 0.3
    page.fill("#temperature", "0.7")
    page.fill("#prompt", "You help {{ customerName }} kindly.")
    page.click("#save-assistant")
    page.wait_for_selector("#save-status >> text=Saved.")
    assert page.locator(".field-error").count() == 0
    saved = api.get(f"/assistant/{assistant_id}").json()
    assert saved["model"]["temperature"] == 0.7 and saved["voice"]["voiceId"] == "burt"
    assert saved["model"]["messages"] == [
        {"role": "system", "content": "You help {{ customerName }} kindly."}
    ]

    # Sign out: the console forgets the key and the API refuses the page.
    page.click("#sign-out")
    page.wait_for_selector("#sign-in")
    assert page.evaluate("() => sessionStorage.length") == 0
    assert page.context.cookies() == []
    page.goto(f"{console.base_url}/#/chats")
    page.wait_for_selector("#sign-in")
    status = page.evaluate("async () => (await fetch('/assistant')).status")
    assert status == 401
    page.fill("#api-key", "cl_not-a-real-key")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#sign-in-error >> text=Invalid API key")
    console.screenshot("console-8-signed-out.png")


def money(value: float) -> str:
    """The console's money format."""
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.6f}"
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def test_every_view_renders_with_only_loopback_reachable(console: ConsolePage, api: Api) -> None:
    assistant = api.create_assistant(name="Viewer")
    chat = api.chat(assistantId=assistant["id"], input="hi")
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    api.chat(sessionId=session["id"], input="in a session")
    console.sign_in(api.key)
    for hash_, selector in (
        ("#/assistants", "#assistant-list"),
        (f"#/assistants/{assistant['id']}", "#assistant-form"),
        (f"#/assistants/{assistant['id']}?tab=json", "#assistant-json"),
        (f"#/playground?assistant={assistant['id']}&session={session['id']}", "#conversation .message"),
        ("#/chats", "#chat-list"),
        ("#/sessions", "#session-list"),
        (f"#/chats/{chat['id']}", "#transcript"),
        (f"#/sessions/{session['id']}", "#transcript"),
        ("#/tools", "h1"),
        ("#/tools/new", "#tool-json"),
        ("#/squads", "h1"),
        ("#/squads/new", "#squad-json"),
        ("#/structured-outputs", "h1"),
        ("#/structured-outputs/new", "#try-form"),
        ("#/files", "#file-upload"),
        ("#/costs", "#cost-chart svg"),
    ):
        console.open(hash_)
        console.page.wait_for_selector(selector)
    console.screenshot("console-offline.png")


def test_tools_are_listed_and_edited_as_json(console: ConsolePage, api: Api) -> None:
    console.sign_in(api.key)
    console.open("#/tools/new")
    console.page.click("text=Create tool")
    console.page.wait_for_selector("text=Id")
    tools = api.get("/tool").json()
    assert len(tools) == 1 and tools[0]["function"]["name"] == "get_weather"
    text = console.page.input_value("#tool-json")
    console.page.fill("#tool-json", text.replace('"function"', '"dtmf"', 1))
    console.page.click("text=Save")
    console.page.wait_for_selector(".form-errors .error")
    assert "type" in console.page.inner_text(".form-errors")
    console.screenshot("console-tools.png")
    console.open("#/tools")
    console.page.wait_for_selector(f"#tools-list tr[data-id='{tools[0]['id']}']")


def test_a_public_key_cannot_sign_in(console: ConsolePage, server: ServerThread) -> None:
    env = {"CHATLOOM_DATABASE_URL": server.settings.database_url, "PATH": "/usr/bin:/bin"}
    created = subprocess.run(
        [CHATLOOM, "keys", "create", "--org", f"public-{uuid.uuid4().hex[:8]}", "--public"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    console.open()
    console.page.fill("#api-key", key)
    console.page.click("#sign-in button[type=submit]")
    message = console.page.wait_for_selector("#sign-in-error:not(:empty)")
    assert re.search(r"key is public", message.inner_text(), re.IGNORECASE), message.inner_text()
    assert console.page.locator("#sign-out").count() == 0
    console.screenshot("console-public-key.png")


def test_the_playground_shows_a_turns_tool_calls_and_results(
    console: ConsolePage, api: Api, fake_llm: FakeLLM
) -> None:
    with HttpRecorder().start() as tools_server:
        tools_server.script(
            "/tools", Scripted(json={"results": [{"toolCallId": "call_1", "result": "7 degrees"}]})
        )
        tool = {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
            "server": {"url": f"{tools_server.url}/tools"},
        }
        assistant = api.create_assistant(
            name="Weather", model={"provider": "openai", "model": "gpt-4o-mini", "tools": [tool]}
        )
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
        }
        fake_llm.push(FakeReply(tool_calls=[call]), FakeReply(text="It is 7 degrees in Oslo."))
        console.sign_in(api.key)
        console.open(f"#/playground?assistant={assistant['id']}")
        console.page.fill("#playground-input", "Weather in Oslo?")
        console.page.click("#playground-send")
        console.page.wait_for_selector(".turn-meta")
    page = console.page
    assert page.locator("#conversation details.tool-call").count() == 1
    assert page.locator("#conversation details.tool-result").count() == 1
    assert not page.is_visible("#conversation details.tool-call pre")
    page.click("#conversation details.tool-call summary")
    assert '"city": "Oslo"' in page.inner_text("#conversation details.tool-call pre")
    page.click("#conversation details.tool-result summary")
    assert "7 degrees" in page.inner_text("#conversation details.tool-result pre")
    assert "It is 7 degrees in Oslo." in page.inner_text("#conversation")
    console.screenshot("console-tool-calls.png")


def test_squads_are_listed_and_edited_as_json(console: ConsolePage, api: Api) -> None:
    first, second = api.create_assistant(name="Front"), api.create_assistant(name="Back")
    members = [{"assistantId": first["id"]}, {"assistantId": second["id"]}]
    squad = api.post("/squad", {"name": "Desk", "members": members}).json()
    console.sign_in(api.key)
    console.open("#/squads")
    console.page.wait_for_selector(f"#squads-list tr[data-id='{squad['id']}']")
    assert "2 members" in console.page.inner_text("#squads-list")
    console.open(f"#/squads/{squad['id']}")
    text = console.page.input_value("#squad-json")
    console.page.fill("#squad-json", text.replace(second["id"], "not-an-assistant"))
    console.page.click("text=Save")
    console.page.wait_for_selector(".form-errors .error")
    assert "members[1].assistantId" in console.page.inner_text(".form-errors")
