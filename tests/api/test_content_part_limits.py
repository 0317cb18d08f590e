"""Content parts that break a rule are refused naming the part: 400 for bad base64, a media type or URL
scheme not taken, a `file_id` or too many parts; 413 past a size bound. The turn routes take bodies up to
`CHATLOOM_MAX_TURN_BODY_BYTES` (36 MiB) for inline attachments; everything else, web chat included, keeps
`CHATLOOM_MAX_BODY_BYTES` (1 MiB)."""

from __future__ import annotations

import base64
from typing import Any

from chatloom.domain.attachments import MAX_FILE_BYTES, MAX_IMAGE_BYTES, MAX_PARTS
from chatloom.testing.fake_llm import FakeLLM
from tests.api.test_content_parts import PDF_B64, PNG_URL
from tests.support.client import Api


def respond(api: Api, *parts: dict[str, Any]) -> Any:
    content = [{"type": "input_text", "text": "see"}, *parts]
    body = {"model": "gpt-4o-mini", "input": [{"role": "user", "content": content}], "stream": False}
    return api.post("/chat/responses", body)


def refused(answer: Any, status: int, param: str | None = None) -> str:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    if param is not None:
        assert error["param"] == param
    return str(error["message"])


def data(size: int, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(bytes(size)).decode()}"


def test_malformed_parts_are_400_naming_the_part(api: Api) -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,@@not base64@@"}
    assert "not valid base64" in refused(respond(api, image), 400, "input[0].content[1]")
    image = {"type": "input_image", "image_url": "data:image/tiff;base64," + PDF_B64}
    assert "image/tiff" in refused(respond(api, image), 400, "input[0].content[1].image_url")
    image = {"type": "input_image", "image_url": "ftp://example.com/cat.png"}
    refused(respond(api, image), 400, "input[0].content[1].image_url")
    image = {"type": "input_image", "image_url": PNG_URL, "detail": "huge"}
    refused(respond(api, image), 400, "input[0].content[1].detail")
    image = {"type": "input_image", "file_id": "file-abc"}
    assert "Files API" in refused(respond(api, image), 400, "input[0].content[1].file_id")
    file = {"type": "input_file", "file_id": "file-abc"}
    refused(respond(api, file), 400, "input[0].content[1].file_id")
    file = {"type": "input_file", "filename": "tool.exe", "file_data": PDF_B64}
    refused(respond(api, file), 400, "input[0].content[1].file_data")
    file = {"type": "input_file", "file_data": PDF_B64}  # no name, no data: URL: the type is unknown
    refused(respond(api, file), 400, "input[0].content[1].file_data")
    refused(respond(api, {"type": "input_audio"}), 400, "input[0].content[1].type")
    many = [{"type": "input_text", "text": "x"}] * MAX_PARTS
    refused(respond(api, *many), 400, "input[0].content")


def test_chat_parts_are_checked_too(api: Api) -> None:
    assistant = api.create_assistant()
    parts = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,###"}}]
    answer = api.post(
        "/chat", {"assistantId": assistant["id"], "input": [{"role": "user", "content": parts}]}
    )
    assert answer.status_code == 400 and "input[0].content[0]" in answer.json()["message"]
    parts = [{"type": "file", "file": {"file_id": "file-1"}}]
    answer = api.post(
        "/chat", {"assistantId": assistant["id"], "input": [{"role": "user", "content": parts}]}
    )
    assert answer.status_code == 400 and "input[0].content[0].file_id" in answer.json()["message"]


def test_turn_routes_take_attachments_web_chat_keeps_the_small_body_limit(api: Api) -> None:
    image = {"type": "input_image", "image_url": data(2 * 1024 * 1024, "image/png")}
    answer = respond(api, image)
    assert answer.status_code == 200, answer.text[:300]
    web_input = [{"role": "user", "content": [image]}]
    web = api.post("/chat/web/responses", {"assistantId": "x", "input": web_input})
    assert "request body is larger than 1048576" in refused(web, 413)
    huge = {"type": "input_image", "image_url": data(28 * 1024 * 1024, "image/png")}
    assert "request body is larger than 37748736" in refused(respond(api, huge), 413)


def test_sizes_past_the_bounds_are_413_naming_the_part(api: Api, fake_llm: FakeLLM) -> None:
    image = {"type": "input_image", "image_url": data(MAX_IMAGE_BYTES + 1, "image/png")}
    assert "input[0].content[1]" in refused(respond(api, image), 413)
    file = {
        "type": "input_file",
        "filename": "big.pdf",
        "file_data": data(MAX_FILE_BYTES + 1, "application/pdf"),
    }
    assert "input[0].content[1]" in refused(respond(api, file), 413)
    half = {
        "type": "input_file",
        "filename": "half.pdf",
        "file_data": data(13 * 1024 * 1024, "application/pdf"),
    }
    message = refused(respond(api, half, half), 413)
    assert "input[0].content[2]" in message and "25 MB" in message
    assert fake_llm.requests == []


def test_text_parts_are_bounded_and_attachments_go_on_user_messages(api: Api) -> None:
    long = [{"type": "input_text", "text": "x" * 60_000}, {"type": "input_text", "text": "y" * 60_000}]
    body = {"model": "gpt-4o-mini", "input": [{"role": "user", "content": long}], "stream": False}
    assert "100000 characters" in refused(api.post("/chat/responses", body), 400, "input[0].content[1].text")
    image = {"type": "input_image", "image_url": data(10, "image/png")}
    for role in ("system", "assistant"):
        body = {"model": "gpt-4o-mini", "input": [{"role": role, "content": [image]}], "stream": False}
        refused(api.post("/chat/responses", body), 400, "input[0].content[0].type")
