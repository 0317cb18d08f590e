"""Files in the console, in headless Chromium against the real server: uploaded through the page, shown as
processing until the background parse ends (`done` with the text's size, or `failed` with the reason),
renamed and deleted; the API's refusals shown under the field they name."""

from __future__ import annotations

import time
from typing import Any

from tests.browser.console_page import ConsolePage
from tests.support.client import Api

HANDBOOK = b"# Handbook\n\nBe kind to callers.\n"
BINARY = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def choose(console: ConsolePage, name: str, content: bytes, mime: str = "text/plain") -> None:
    console.page.set_input_files("#file-input", files=[{"name": name, "mimeType": mime, "buffer": content}])


def upload(console: ConsolePage, name: str, content: bytes, mime: str = "text/plain") -> str:
    """Uploads through the form; answers the new file's id, once its row shows it processing."""
    page = console.page
    choose(console, name, content, mime)
    page.click("#upload-file")
    page.wait_for_selector(f"#file-upload .status >> text=Uploaded {name}.")
    row = page.locator("#file-list tbody tr").first
    assert row.get_attribute("data-status") == "processing"
    return str(row.get_attribute("data-id"))


def row_when(console: ConsolePage, file_id: str, status: str) -> Any:
    return console.page.wait_for_selector(f"#file-list tr[data-id='{file_id}'][data-status='{status}']")


def test_a_markdown_file_is_parsed_renamed_and_deleted(console: ConsolePage, api: Api) -> None:
    page = console.page
    console.sign_in(api.key)
    console.open("#/files")
    page.wait_for_selector("text=No files yet.")
    page.select_option("#file-purpose", "knowledge-base-v2")
    file_id = upload(console, "handbook.md", HANDBOOK, "text/markdown")
    console.screenshot("console-files-processing.png")

    row = row_when(console, file_id, "done")
    stored = api.get(f"/file/{file_id}").json()
    assert stored["status"] == "done" and stored["purpose"] == "knowledge-base-v2"
    assert stored["parsedTextBytes"] == len(HANDBOOK)
    assert row.query_selector(".file-parsed").inner_text() == f"{len(HANDBOOK)} B"
    assert "handbook.md" in row.inner_text() and "knowledge-base-v2" in row.inner_text()
    assert page.locator("text=No files yet.").is_hidden()
    console.screenshot("console-files-done.png")

    # A name over 40 characters is the API's 400, shown under the name; a good one is saved.
    page.click(f"#file-list tr[data-id='{file_id}'] .rename-file")
    name = page.locator(f"#file-list tr[data-id='{file_id}'] input[name=name]")
    name.fill("x" * 41)
    page.click(f"#file-list tr[data-id='{file_id}'] form.rename button[type=submit]")
    error = page.wait_for_selector(f"#file-list tr[data-id='{file_id}'] .field-error[data-for=name]")
    assert "40 characters" in error.inner_text()
    name.fill("Team handbook")
    page.click(f"#file-list tr[data-id='{file_id}'] form.rename button[type=submit]")
    page.wait_for_selector(f"#file-list tr[data-id='{file_id}'] .file-name >> text=Team handbook")
    assert api.get(f"/file/{file_id}").json()["name"] == "Team handbook"

    page.click(f"#file-list tr[data-id='{file_id}'] .delete-file")
    assert api.get(f"/file/{file_id}").status_code == 200, "the first click only arms the button"
    page.click(f"#file-list tr[data-id='{file_id}'] >> text=Really delete?")
    page.wait_for_selector(f"#file-list tr[data-id='{file_id}']", state="detached")
    page.wait_for_selector("text=No files yet.")
    assert api.get(f"/file/{file_id}").status_code == 404


def test_a_binary_file_named_txt_fails_with_its_reason(console: ConsolePage, api: Api) -> None:
    page = console.page
    console.sign_in(api.key)
    console.open("#/files")
    page.wait_for_selector("#file-upload")
    file_id = upload(console, "notes.txt", BINARY)
    row = row_when(console, file_id, "failed")
    reason = api.get(f"/file/{file_id}").json()["failedReason"]
    assert reason.startswith("not text")
    assert row.query_selector(".failed-reason").inner_text() == reason
    assert row.query_selector(".file-parsed").inner_text() == ""
    console.screenshot("console-files-failed.png")

    # The list shows the same on a fresh load.
    console.open("#/assistants")
    page.wait_for_selector("h1 >> text=Assistants")
    console.open("#/files")
    assert reason in row_when(console, file_id, "failed").inner_text()


def test_polling_stops_once_files_are_parsed_or_the_view_is_left(console: ConsolePage, api: Api) -> None:
    page = console.page
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/file/" in request.url else None)
    console.sign_in(api.key)
    console.open("#/files")
    page.wait_for_selector("#file-upload")
    parsed = upload(console, "parsed.md", HANDBOOK)
    row_when(console, parsed, "done")
    time.sleep(2)
    count = len(polls)
    time.sleep(2)
    assert len(polls) == count, "nothing is processing: no more requests"

    left = upload(console, "left.md", HANDBOOK)
    console.open("#/chats")
    page.wait_for_selector("h1 >> text=Chats")
    polls.clear()
    time.sleep(2)
    assert [url for url in polls if left in url] == []


def test_the_apis_refusals_are_shown_under_the_file_field(console: ConsolePage, api: Api) -> None:
    page = console.page
    console.sign_in(api.key)
    console.open("#/files")
    page.wait_for_selector("#file-upload")

    page.click("#upload-file")
    assert "choose a file" in page.wait_for_selector(".field-error[data-for=file]").inner_text()

    choose(console, "empty.md", b"")
    page.click("#upload-file")
    page.wait_for_selector(".field-error[data-for=file] >> text=is empty")

    # Over CHATLOOM_MAX_FILE_BYTES (10 MiB): the route's 413 names the file.
    choose(console, "big.txt", b"a" * (10 * 1024 * 1024 + 1))
    page.click("#upload-file")
    page.wait_for_selector(".field-error[data-for=file] >> text=larger than")
    console.screenshot("console-files-too-large.png")

    # A body past the upload bound is refused before it is read: that 413 names no field.
    choose(console, "huge.txt", b"a" * (11 * 1024 * 1024))
    page.click("#upload-file")
    page.wait_for_selector("#file-upload .form-errors .error >> text=request body is larger than")
    assert page.locator(".field-error[data-for=file]").count() == 0
    assert api.get("/file").json() == []
