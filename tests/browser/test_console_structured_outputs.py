"""Structured outputs in the console, in headless Chromium against the real server and the fake LLM (which
fills a JSON-schema answer from what the conversation states: "name: Ada" fills `name`): created and edited
as JSON, tried on an existing session, and a completed session's extracted results in its transcript."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.browser.console_page import ConsolePage
from tests.support.client import Api

CALLER = {
    "name": "caller",
    "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
}


def session_with(api: Api, assistant_id: str, text: str, name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"assistantId": assistant_id, "messages": [{"role": "user", "content": text}]}
    if name:
        body["name"] = name
    response = api.post("/session", body)
    assert response.status_code == 201, response.text
    return response.json()


def try_on(console: ConsolePage, session_id: str) -> str:
    """Runs "Try" on the session and answers the result's text."""
    page = console.page
    page.select_option("#try-session", session_id)
    page.click("#try-output")
    page.wait_for_selector("#try-result .output-result")
    return page.inner_text("#try-result")


def test_an_output_is_created_in_the_console_and_tried_on_a_session(console: ConsolePage, api: Api) -> None:
    assistant = api.create_assistant(name="Desk")
    ada = session_with(api, assistant["id"], "name: Ada", name="ada-chat")
    broken = session_with(api, assistant["id"], "[invalid json]")
    page = console.page
    console.sign_in(api.key)
    console.open("#/structured-outputs")
    page.wait_for_selector("text=No structured outputs yet.")
    page.click("text=New structured output")
    page.wait_for_selector("#try-form")
    options = page.inner_text("#try-session")
    assert "ada-chat" in options and ada["id"][:8] in options

    # The JSON being edited is tried before it is saved: sent inline, nothing stored.
    page.fill("#structured-output-json", json.dumps(CALLER))
    result = try_on(console, ada["id"])
    assert "not saved" in result and "caller" in result and '"Ada"' in result
    assert api.get("/structured-output").json()["results"] == []

    # A result that could not be extracted is shown as failed.
    assert "failed" in try_on(console, broken["id"])
    console.screenshot("console-outputs-try-failed.png")

    page.click("text=Create structured output")
    page.wait_for_selector("#structured-output-id")
    output_id = page.inner_text("#structured-output-id")
    stored = api.get(f"/structured-output/{output_id}").json()
    assert stored["name"] == "caller" and stored["schema"] == CALLER["schema"]

    # The saved output is tried by its id: the result is keyed by it.
    result = try_on(console, ada["id"])
    assert "The saved output" in result and '"name": "Ada"' in result
    assert page.locator(f"#try-result .output-result[data-id='{output_id}'] pre").count() == 1
    console.screenshot("console-outputs-try.png")

    console.open("#/structured-outputs")
    page.wait_for_selector(f"#structured-outputs-list tr[data-id='{output_id}']")
    assert "caller" in page.inner_text("#structured-outputs-list")


def test_an_unmet_condition_is_shown_as_skipped(console: ConsolePage, api: Api) -> None:
    assistant = api.create_assistant(name="Desk")
    session = session_with(api, assistant["id"], "name: Ada")
    gated = {**CALLER, "conditions": [{"type": "minMessages", "count": 5}]}
    output = api.post("/structured-output", gated).json()
    console.sign_in(api.key)
    console.open(f"#/structured-outputs/{output['id']}")
    page = console.page
    page.wait_for_selector("#try-form")
    result = try_on(console, session["id"])
    assert "skipped" in result and "at least 5 messages" in result and "Ada" not in result
    assert page.locator("#try-result .output-result.skipped").count() == 1


def test_edits_show_the_apis_messages_and_a_type_change_needs_an_override(
    console: ConsolePage, api: Api
) -> None:
    output = api.post("/structured-output", CALLER).json()
    page = console.page
    console.sign_in(api.key)
    console.open(f"#/structured-outputs/{output['id']}")
    page.wait_for_selector("#structured-output-json")

    edited = {"name": "caller", "schema": {"type": "not-a-type"}}
    page.fill("#structured-output-json", json.dumps(edited))
    page.click("form.editor button[type=submit]")
    page.wait_for_selector(".form-errors .error")
    assert "not a valid JSON Schema" in page.inner_text(".form-errors")
    assert page.locator("#save-retry").count() == 0

    edited = {"name": "caller", "schema": {"type": "boolean"}}
    page.fill("#structured-output-json", json.dumps(edited))
    page.click("form.editor button[type=submit]")
    page.wait_for_selector("#save-retry")
    assert "schemaOverride" in page.inner_text(".form-errors")
    assert api.get(f"/structured-output/{output['id']}").json()["schema"]["type"] == "object"
    console.screenshot("console-outputs-override.png")
    page.click("#save-retry")
    page.wait_for_selector("form.editor .status >> text=Saved.")
    assert page.locator(".form-errors .error").count() == 0
    assert api.get(f"/structured-output/{output['id']}").json()["schema"] == {"type": "boolean"}

    page.click("text=Delete")
    page.click("text=Really delete?")
    page.wait_for_selector("text=No structured outputs yet.")
    assert api.get(f"/structured-output/{output['id']}").status_code == 404


def wait_for_artifact(api: Api, session_id: str) -> dict[str, Any]:
    """The session's artifact, once the background extraction has written it."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        artifact = api.get(f"/session/{session_id}").json().get("artifact")
        if artifact and artifact.get("structuredOutputsLastUpdatedAt"):
            return artifact
        time.sleep(0.1)
    raise AssertionError(f"session {session_id} was not extracted")


def test_a_completed_sessions_transcript_shows_its_extracted_outputs(console: ConsolePage, api: Api) -> None:
    caller = api.post("/structured-output", CALLER).json()
    gated = {**CALLER, "name": "long caller", "conditions": [{"type": "minMessages", "count": 50}]}
    long_caller = api.post("/structured-output", gated).json()
    plan = {"structuredOutputIds": [caller["id"], long_caller["id"]]}
    assistant = api.create_assistant(name="Intake", artifactPlan=plan)
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    api.chat(sessionId=session["id"], input="name: Grace")
    active = api.post("/session", {"assistantId": assistant["id"]}).json()
    api.chat(sessionId=active["id"], input="name: Lin")
    completed = api.patch(f"/session/{session['id']}", {"status": "completed"})
    assert completed.status_code == 200, completed.text
    artifact = wait_for_artifact(api, session["id"])
    assert artifact["structuredOutputs"][caller["id"]]["result"] == {"name": "Grace"}

    page = console.page
    console.sign_in(api.key)
    console.open(f"#/sessions/{session['id']}")
    page.wait_for_selector("#session-outputs")
    extracted = page.locator(f"#session-outputs .output-result[data-id='{caller['id']}']")
    assert "caller" in extracted.inner_text() and '"name": "Grace"' in extracted.inner_text()
    skipped = page.locator(f"#session-outputs .output-result.skipped[data-id='{long_caller['id']}']")
    assert "at least 50 messages" in skipped.inner_text()
    console.screenshot("console-outputs-transcript.png")

    # A session without an artifact shows nothing new.
    console.open(f"#/sessions/{active['id']}")
    page.wait_for_selector("#transcript .message")
    assert page.locator("#session-outputs").count() == 0
