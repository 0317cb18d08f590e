"""Content parts that break a rule are refused naming the part: 400 for bad base64, a media type or URL
scheme not taken, a `file_id` or too many parts; 413 past a size bound (on a server whose body limit,
`CHATLOOM_MAX_BODY_BYTES`, is raised to let such requests in)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chatloom.config import Settings
from chatloom.domain.attachments import MAX_FILE_BYTES, MAX_IMAGE_BYTES, MAX_PARTS
from chatloom.testing.fake_llm import FakeLLM
from tests.api.test_content_parts import PDF_B64, PNG_URL
from tests.conftest import TEST_SECRET_KEY, provider_environment
from tests.support.client import Api
from tests.support.server import ServerThread


@pytest.fixture(scope="module")
def roomy_server(backend: str, fake_llm: FakeLLM) -> Iterator[ServerThread]:
    settings = Settings(
        database_url=backend,
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=5,
        secret_key=TEST_SECRET_KEY,
        max_body_bytes=64 * 1024 * 1024,
    )
    thread = ServerThread(settings).start()
    yield thread
    thread.stop()


@pytest.fixture
def roomy(roomy_server: ServerThread) -> Iterator[Api]:
    client = Api(roomy_server.url, roomy_server.create_key(f"org-{uuid.uuid4().hex[:10]}"))
    yield client
    client.close()


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


def test_body_limit_comes_first_on_a_default_server(api: Api) -> None:
    image = {"type": "input_image", "image_url": data(2 * 1024 * 1024, "image/png")}
    assert "request body is larger" in refused(respond(api, image), 413)


def test_sizes_past_the_bounds_are_413_naming_the_part(roomy: Api, fake_llm: FakeLLM) -> None:
    image = {"type": "input_image", "image_url": data(MAX_IMAGE_BYTES + 1, "image/png")}
    assert "input[0].content[1]" in refused(respond(roomy, image), 413)
    file = {
        "type": "input_file",
        "filename": "big.pdf",
        "file_data": data(MAX_FILE_BYTES + 1, "application/pdf"),
    }
    assert "input[0].content[1]" in refused(respond(roomy, file), 413)
    half = {
        "type": "input_file",
        "filename": "half.pdf",
        "file_data": data(13 * 1024 * 1024, "application/pdf"),
    }
    message = refused(respond(roomy, half, half), 413)
    assert "input[0].content[2]" in message and "25 MB" in message
    assert fake_llm.requests == []
