"""Images and files as input: Responses `input_image`/`input_file` and `/chat` content parts reach each
provider in its own terms, are kept once for chained turns, listed back as Responses parts, show as
markers in server messages, and remote ones are fetched through the URL guard."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from chatloom.domain.attachments import MAX_IMAGE_BYTES
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from chatloom.testing.http_recorder import HttpRecorder, RecordedCall, Scripted
from tests.support.client import Api, client_for
from tests.support.server import ServerThread

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PNG_B64 = base64.b64encode(PNG).decode()
PNG_URL = f"data:image/png;base64,{PNG_B64}"
PDF = b"%PDF-1.4\n%fake\n"
PDF_B64 = base64.b64encode(PDF).decode()
ANTHROPIC, GOOGLE = "anthropic/claude-sonnet-4-5", "google/gemini-2.5-flash"


def image_input(url: str = PNG_URL, **image: Any) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is this"},
                {"type": "input_image", "image_url": url, **image},
            ],
        }
    ]


def last_body(fake_llm: FakeLLM) -> dict[str, Any]:
    return fake_llm.requests[-1].json


@pytest.fixture(scope="module")
def files_server() -> Iterator[HttpRecorder]:
    with HttpRecorder().start() as recorder:
        yield recorder


@pytest.fixture
def files(files_server: HttpRecorder) -> HttpRecorder:
    files_server.reset()
    return files_server


def test_input_image_reaches_each_provider_natively(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    response = client.responses.create(model="gpt-4o-mini", input=image_input(detail="low"))  # type: ignore[arg-type]
    assert response.output_text == "You said: what is this [1 image]"
    assert last_body(fake_llm)["messages"][-1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}},
        ],
    }

    client.responses.create(model=ANTHROPIC, input=image_input())  # type: ignore[arg-type]
    assert last_body(fake_llm)["messages"][-1]["content"] == [
        {"type": "text", "text": "what is this"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
    ]

    client.responses.create(model=GOOGLE, input=image_input())  # type: ignore[arg-type]
    assert last_body(fake_llm)["contents"][-1]["parts"] == [
        {"text": "what is this"},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
    ]


def test_input_file_pdf_and_text(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    pdf = {"type": "input_file", "filename": "report.pdf", "file_data": PDF_B64}
    note = {"type": "input_file", "file_data": "data:text/plain;base64," + base64.b64encode(b"hi").decode()}
    item = {"role": "user", "content": [{"type": "input_text", "text": "sum up"}, pdf, note]}
    client.responses.create(model="gpt-4o-mini", input=[item])  # type: ignore[list-item]
    assert last_body(fake_llm)["messages"][-1]["content"][1:] == [
        {
            "type": "file",
            "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"},
        },
        {"type": "file", "file": {"file_data": note["file_data"]}},
    ]
    client.responses.create(model=ANTHROPIC, input=[item])  # type: ignore[list-item]
    assert last_body(fake_llm)["messages"][-1]["content"][1:] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
            "title": "report.pdf",
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hi"}},
    ]
    client.responses.create(model=GOOGLE, input=[item])  # type: ignore[list-item]
    assert last_body(fake_llm)["contents"][-1]["parts"][1] == {
        "inlineData": {"mimeType": "application/pdf", "data": PDF_B64}
    }


def test_chat_with_image_url_parts_keeps_the_image_once(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    parts = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "high"}},
    ]
    chat = api.chat(assistantId=assistant["id"], input=[{"role": "user", "content": parts}])
    assert chat["output"][-1]["content"] == "You said: look [1 image]"
    assert last_body(fake_llm)["messages"][-1]["content"] == parts
    assert chat["input"] == [{"role": "user", "content": "look [image]"}]
    stored = api.get(f"/chat/{chat['id']}").json()
    assert stored["input"] == chat["input"] and stored["messages"][-1]["content"] == parts

    follow = api.chat(assistantId=assistant["id"], previousChatId=chat["id"], input="and now?")
    assert follow["output"][-1]["content"] == "You said: and now?"
    assert last_body(fake_llm)["messages"][-3]["content"] == parts  # the image goes again


def test_text_parts_alone_stay_one_string(api: Api, fake_llm: FakeLLM) -> None:
    assistant = api.create_assistant()
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    api.chat(assistantId=assistant["id"], input=[{"role": "user", "content": parts}])
    assert last_body(fake_llm)["messages"][-1] == {"role": "user", "content": "ab"}


def test_chained_response_still_sends_the_image(api: Api, fake_llm: FakeLLM) -> None:
    client = client_for(api)
    first = client.responses.create(model=ANTHROPIC, input=image_input())  # type: ignore[arg-type]
    client.responses.create(model=ANTHROPIC, input="and the colour?", previous_response_id=first.id)
    sent = last_body(fake_llm)["messages"]
    assert sent[0]["content"][1]["source"]["data"] == PNG_B64
    assert sent[-1] == {"role": "user", "content": "and the colour?"}


def test_input_items_lists_the_parts(api: Api) -> None:
    client = client_for(api)
    pdf = {"type": "input_file", "filename": "report.pdf", "file_data": PDF_B64}
    item = {"role": "user", "content": [*image_input()[0]["content"], pdf]}
    response = client.responses.create(model="gpt-4o-mini", input=[item])  # type: ignore[list-item]
    items = api.get(f"/chat/responses/{response.id}/input_items").json()["data"]
    assert items[-1]["content"] == [
        {"type": "input_text", "text": "what is this"},
        {"type": "input_image", "image_url": PNG_URL, "detail": "auto"},
        {
            "type": "input_file",
            "filename": "report.pdf",
            "file_data": f"data:application/pdf;base64,{PDF_B64}",
        },
    ]
    listed = client.responses.input_items.list(response.id)
    assert [part.type for part in listed.data[-1].content] == ["input_text", "input_image", "input_file"]  # type: ignore[union-attr]


def test_server_messages_show_markers_not_data(api: Api, files: HttpRecorder) -> None:
    assistant = api.create_assistant(serverMessages=["chat.created"], server={"url": f"{files.url}/hooks"})
    pdf = {
        "type": "file",
        "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"},
    }
    parts = [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": PNG_URL}}, pdf]
    api.chat(assistantId=assistant["id"], input=[{"role": "user", "content": parts}])
    [call] = files.wait_for(1, path="/hooks")
    assert PNG_B64 not in call.body.decode() and PDF_B64 not in call.body.decode()
    chat = call.json["message"]["chat"]
    assert chat["messages"][-1]["content"] == "see [image] [file: report.pdf]"
    assert chat["input"][-1]["content"] == "see [image] [file: report.pdf]"


def test_tool_servers_see_markers_not_data(api: Api, files: HttpRecorder) -> None:
    files.on(
        "/tools",
        lambda call: Scripted(
            json={
                "results": [
                    {"toolCallId": c["id"], "result": "ok"} for c in call.json["message"]["toolCallList"]
                ]
            }
        ),
    )
    tool = {
        "type": "function",
        "function": {"name": "describe", "parameters": {"type": "object", "properties": {}}},
        "server": {"url": f"{files.url}/tools"},
    }
    assistant = api.create_assistant(model={"provider": "openai", "model": "gpt-4o-mini", "tools": [tool]})
    parts = [{"type": "text", "text": "call:describe"}, {"type": "image_url", "image_url": {"url": PNG_URL}}]
    api.chat(assistantId=assistant["id"], input=[{"role": "user", "content": parts}])
    [call] = files.wait_for(1, path="/tools")
    assert PNG_B64 not in call.body.decode()
    assert call.json["message"]["chat"]["messages"][-1]["content"] == "call:describe [image]"


def serve_png(files: HttpRecorder, path: str = "/cat.png") -> str:
    files.on(path, lambda _call: Scripted(body=PNG, headers={"Content-Type": "image/png"}))
    return f"{files.url}{path}"


@pytest.mark.parametrize("model", [ANTHROPIC, GOOGLE])
def test_remote_image_is_fetched_for_providers_that_need_bytes(
    api: Api, fake_llm: FakeLLM, files: HttpRecorder, model: str
) -> None:
    url = serve_png(files)
    client_for(api).responses.create(model=model, input=image_input(url))  # type: ignore[arg-type]
    assert [call.path for call in files.calls] == ["/cat.png"]
    body = last_body(fake_llm)
    if model == ANTHROPIC:
        assert body["messages"][-1]["content"][1]["source"] == {
            "type": "base64",
            "media_type": "image/png",
            "data": PNG_B64,
        }
    else:
        assert body["contents"][-1]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}


def test_a_remote_image_is_fetched_once_per_model_call_not_per_retry(
    api: Api, fake_llm: FakeLLM, files: HttpRecorder
) -> None:
    url = serve_png(files)
    fake_llm.push(FakeReply(status=503), FakeReply(text="a cat"))
    answer = client_for(api).responses.create(model=ANTHROPIC, input=image_input(url))  # type: ignore[arg-type]
    assert answer.output_text == "a cat" and len(fake_llm.requests) == 2
    assert [call.path for call in files.calls] == ["/cat.png"]


def test_what_one_call_fetches_is_bounded_in_all(api: Api, fake_llm: FakeLLM, files: HttpRecorder) -> None:
    big = bytes(9 * 1024 * 1024)
    for name in ("a", "b", "c"):
        files.on(f"/{name}.png", lambda _call: Scripted(body=big, headers={"Content-Type": "image/png"}))
    parts = [{"type": "input_image", "image_url": f"{files.url}/{name}.png"} for name in ("a", "b", "c")]
    with pytest.raises(openai.BadRequestError) as refused:
        client_for(api).responses.create(model=ANTHROPIC, input=[{"role": "user", "content": parts}])  # type: ignore[list-item]
    assert "25 MB in all" in refused.value.message
    assert not fake_llm.requests


def test_remote_image_goes_to_openai_as_its_url(api: Api, fake_llm: FakeLLM, files: HttpRecorder) -> None:
    url = serve_png(files)
    client_for(api).responses.create(model="gpt-4o-mini", input=image_input(url))  # type: ignore[arg-type]
    assert files.calls == []
    assert last_body(fake_llm)["messages"][-1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": url},
    }


def test_file_url_is_fetched_and_inlined(api: Api, fake_llm: FakeLLM, files: HttpRecorder) -> None:
    files.on("/r.pdf", lambda _call: Scripted(body=PDF, headers={"Content-Type": "application/pdf"}))
    part = {"type": "input_file", "file_url": f"{files.url}/r.pdf", "filename": "r.pdf"}
    client_for(api).responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": [part]}])  # type: ignore[list-item]
    assert last_body(fake_llm)["messages"][-1]["content"] == [
        {"type": "file", "file": {"filename": "r.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"}}
    ]


def test_remote_fetch_failures_are_400(api: Api, files: HttpRecorder) -> None:
    def answer(call: RecordedCall) -> Scripted:
        return Scripted(body=b"<html>", headers={"Content-Type": "text/html"})

    files.on("/page", answer)
    body = {"model": ANTHROPIC, "input": image_input(f"{files.url}/page"), "stream": False}
    refused = api.post("/chat/responses", body)
    assert refused.status_code == 400 and "text/html" in refused.json()["error"]["message"]
    body["input"] = image_input("http://169.254.169.254/latest/meta-data")
    metadata = api.post("/chat/responses", body)
    assert metadata.status_code == 400 and "metadata" in metadata.json()["error"]["message"]


def test_streamed_turn_fetches_the_remote_image_too(api: Api, fake_llm: FakeLLM, files: HttpRecorder) -> None:
    url = serve_png(files)
    with client_for(api).responses.stream(model=ANTHROPIC, input=image_input(url)) as stream:  # type: ignore[arg-type]
        final = stream.get_final_response()
    assert final.output_text == "You said: what is this [1 image]"
    assert last_body(fake_llm)["stream"] is True
    assert last_body(fake_llm)["messages"][-1]["content"][1]["source"]["data"] == PNG_B64


def test_remote_image_past_its_bound_is_400(api: Api, fake_llm: FakeLLM, files: HttpRecorder) -> None:
    big = b"\x89PNG" + bytes(MAX_IMAGE_BYTES)
    files.on("/big.png", lambda _call: Scripted(body=big, headers={"Content-Type": "image/png"}))
    body = {"model": GOOGLE, "input": image_input(f"{files.url}/big.png"), "stream": False}
    answer = api.post("/chat/responses", body)
    assert answer.status_code == 400 and "larger than 10 MB" in answer.json()["error"]["message"]
    assert fake_llm.requests == []


def test_web_chat_takes_attachments_inline_only(api: Api, server: ServerThread, fake_llm: FakeLLM) -> None:
    name = f"web-{uuid.uuid4().hex[:10]}"
    owner = Api(server.url, server.create_key(name))
    assistant = owner.create_assistant()
    key = server.create_key(name, public=True)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as page:
        inline = [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": PNG_URL}}]
        body = {
            "assistantId": assistant["id"],
            "input": [{"role": "user", "content": inline}],
            "stream": False,
        }
        answer = page.post("/chat/web", json=body)
        assert answer.status_code == 200, answer.text
        assert last_body(fake_llm)["messages"][-1]["content"] == inline
        by_url = [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/cat.png"}}]
        body["input"] = [{"role": "user", "content": by_url}]
        refused = page.post("/chat/web", json=body)
        assert refused.status_code == 400 and "input[0].content[0]" in refused.json()["message"]
        responses = {
            "assistantId": assistant["id"],
            "input": image_input("https://example.com/a.png"),
            "stream": False,
        }
        refused = page.post("/chat/web/responses", json=responses)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "input[0].content[1]"
    owner.close()
