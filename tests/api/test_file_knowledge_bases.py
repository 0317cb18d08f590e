"""File knowledge bases over HTTP, on both databases: `/v2/knowledge-base` with uploaded files (markdown, PDF,
.docx), the `knowledgeBase` tool it provisions and query tools listing `fileIds`, searched in a chat's tool
round; the passages handed to the model answer the question (top-3 hit rate over the thirty-question fixture,
with embeddings and by full text alone); another org sees none of it; deletes clean up; statuses and retry.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vapi import Vapi

from chatloom.config import Settings
from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.api.test_files import docx, settled, text_pdf, uploaded
from tests.conftest import TEST_SECRET_KEY, provider_environment
from tests.support.client import Api
from tests.support.server import ServerThread

KB = Path(__file__).resolve().parent.parent / "fixtures" / "kb"
QUESTIONS = json.loads((KB / "questions.json").read_text(encoding="utf-8"))
TOP = 3
REQUIRED_HIT_RATE = 0.9
PDF_FACT = "The warehouse in Tilburg ships parcels every weekday before noon."
DOCX_FACT = "Corporate customers receive invoices with a payment term of 45 days."
PASSAGE_HEADER = re.compile(r"^\[(\d+)\] (.+)$", re.MULTILINE)


# --- helpers ---------------------------------------------------------------------------------------------


def ready(api: Api, base_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The knowledge base once no file is `indexing` any more."""
    deadline = time.monotonic() + timeout
    while True:
        base = api.get(f"/v2/knowledge-base/{base_id}").json()
        if base["files"] and all(f["status"] != "indexing" for f in base["files"]):
            return dict(base)
        assert time.monotonic() < deadline, base
        time.sleep(0.05)


def knowledge_base(api: Api, name: str, file_ids: list[str]) -> dict[str, Any]:
    created = api.post("/v2/knowledge-base", {"name": name, "description": "The shop's documents"})
    assert created.status_code == 201, created.text
    for file_id in file_ids:
        attached = api.post(f"/v2/knowledge-base/{created.json()['id']}/file", {"fileId": file_id})
        assert attached.status_code == 201, attached.text
    return ready(api, created.json()["id"])


def fixture_files(api: Api) -> dict[str, str]:
    """The ten fixture documents uploaded and parsed: file name → file id."""
    found = {}
    for path in sorted(KB.iterdir()):
        if path.suffix in (".md", ".txt"):
            file_id = uploaded(api, path.name, path.read_bytes(), purpose="knowledge-base-v2")["id"]
            found[path.name] = file_id
    for file_id in found.values():
        assert settled(api, file_id)["status"] == "done"
    return found


def tool_call(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """How Vapi's models call a knowledge-base tool: the bases' names, no query."""
    args = arguments if arguments is not None else {"knowledgeBaseNames": ["shop"]}
    return {
        "id": f"call_{uuid.uuid4().hex[:8]}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args)},
    }


def tool_result(chat: dict[str, Any]) -> str:
    results = [m for m in chat["output"] if m["role"] == "tool"]
    assert len(results) == 1, chat["output"]
    return str(results[0]["content"])


def passages(result: str) -> list[tuple[str, str]]:
    """The passages of a tool result, best first: (header, text)."""
    marks = list(PASSAGE_HEADER.finditer(result))
    return [
        (mark.group(2), result[mark.end() : marks[i + 1].start() if i + 1 < len(marks) else len(result)])
        for i, mark in enumerate(marks)
    ]


def hit_rate(api: Api, fake_llm: FakeLLM, assistant_id: str, tool: str) -> tuple[float, list[str]]:
    """The share of the questions whose answering passage is among the top three handed to the model."""
    missed = []
    for item in QUESTIONS:
        fake_llm.push(FakeReply(tool_calls=[tool_call(tool)]))
        chat = api.chat(assistantId=assistant_id, input=item["question"])
        top = passages(tool_result(chat))[:TOP]
        if not any(header.startswith(item["file"]) and item["phrase"] in flat(text) for header, text in top):
            missed.append(item["question"])
    return 1 - len(missed) / len(QUESTIONS), missed


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def full_text_server(server: ServerThread, fake_llm: FakeLLM) -> Iterator[ServerThread]:
    """A server whose knowledge bases search by full text only (embeddings turned off). It shares the test
    server's database and file storage, and runs no background jobs: the test server indexes (and embeds)
    every file, so each org's passages are embedded whole."""
    settings = Settings(
        database_url=server.settings.database_url,
        provider_env=provider_environment(fake_llm),
        llm_timeout_seconds=5,
        secret_key=TEST_SECRET_KEY,
        files_dir=server.settings.files_dir,
        kb_embeddings=False,
        jobs_enabled=False,
    )
    thread = ServerThread(settings).start()
    yield thread
    thread.stop()


# --- tests -----------------------------------------------------------------------------------------------


def test_a_knowledge_base_answers_from_its_files(api: Api, fake_llm: FakeLLM) -> None:
    client = Vapi(token=api.key, base_url=api.base_url)
    faq = client.files.create(file=("faq.md", (KB / "faq.md").read_bytes(), "text/markdown"))
    pdf = client.files.create(
        file=(
            "depot.pdf",
            text_pdf(b"BT /F1 12 Tf 72 700 Td (" + PDF_FACT.encode() + b") Tj ET"),
            "application/pdf",
        )
    )
    word = client.files.create(file=("terms.docx", docx(["Invoices", DOCX_FACT]), "application/octet-stream"))
    for file in (faq, pdf, word):
        assert settled(api, file.id)["status"] == "done"
    base = knowledge_base(api, "Help Center", [faq.id, pdf.id, word.id])
    assert [f["status"] for f in base["files"]] == ["ready"] * 3
    assert {f["fileName"] for f in base["files"]} == {"faq.md", "depot.pdf", "terms.docx"}
    tool = api.get(f"/tool/{base['toolId']}").json()
    assert tool["type"] == "knowledgeBase" and tool["knowledgeBaseId"] == base["id"]
    assert tool["function"]["name"] == "search_help_center"
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "toolIds": [tool["id"]]}
    )

    chat = api.chat(
        assistantId=assistant["id"], input="call:search_help_center When does the Tilburg warehouse ship?"
    )
    found = passages(tool_result(chat))
    assert found[0][0].startswith("depot.pdf") and PDF_FACT in found[0][1]
    assert chat["output"][-1]["content"].startswith("Tool said: [1] depot.pdf")
    model_saw = fake_llm.requests[-1].json["messages"][-1]["content"]
    assert PDF_FACT in model_saw
    billed = [c for c in chat["costs"] if c["type"] == "knowledge-base"]
    assert len(billed) == 1 and billed[0]["promptTokens"] > 0
    assert billed[0]["model"] == {"provider": "openai", "model": "text-embedding-3-small"}

    answer = api.chat(
        assistantId=assistant["id"], input="call:search_help_center What is the payment term for invoices?"
    )
    assert passages(tool_result(answer))[0][0].startswith("terms.docx")


def test_query_tools_search_their_files_on_every_surface(api: Api, fake_llm: FakeLLM) -> None:
    faq = uploaded(api, "faq.md", (KB / "faq.md").read_bytes())
    shipping = uploaded(api, "shipping.md", (KB / "shipping.md").read_bytes())
    base = {
        "provider": "google",
        "name": "shop",
        "description": "Shop FAQ",
        "fileIds": [faq["id"], shipping["id"]],
    }
    created = api.post("/tool", {"type": "query", "function": {"name": "ask_shop"}, "knowledgeBases": [base]})
    assert created.status_code == 201, created.text
    assistant = api.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "toolIds": [created.json()["id"]]}
    )
    question = "call:ask_shop How long is the password reset link valid?"
    deadline = time.monotonic() + 30
    while "expires after 30 minutes" not in tool_result(
        chat := api.chat(assistantId=assistant["id"], input=question)
    ):
        assert time.monotonic() < deadline, chat["output"]  # indexed in the background after the parse
        time.sleep(0.1)
    assert tool_result(chat).startswith("[1] faq.md")

    events = list(api.stream({"assistantId": assistant["id"], "input": question}))
    assert events[-1] == "[DONE]"
    text = "".join(e["delta"] for e in events[:-1] if e["path"] == "chat.output[2].content")
    assert text.startswith("Tool said: [1] faq.md") and "expires after 30 minutes" in text

    responded = api.post(
        "/chat/responses", {"assistantId": assistant["id"], "input": question, "stream": False}
    )
    assert responded.status_code == 200, responded.text
    assert "expires after 30 minutes" in json.dumps(responded.json())

    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    in_session = api.chat(sessionId=session["id"], input=question)
    assert "expires after 30 minutes" in tool_result(in_session)


@pytest.mark.parametrize("search", ["embeddings", "full text"])
def test_hit_rate_over_http(search: str, api: Api, fake_llm: FakeLLM, full_text_server: ServerThread) -> None:
    client = (
        api
        if search == "embeddings"
        else Api(full_text_server.url, full_text_server.create_key(f"ft-{uuid.uuid4().hex[:8]}"))
    )
    files = fixture_files(client)
    base = knowledge_base(client, "shop", list(files.values()))
    assistant = client.create_assistant(
        model={"provider": "openai", "model": "gpt-4o-mini", "toolIds": [base["toolId"]]}
    )
    rate, missed = hit_rate(client, fake_llm, assistant["id"], "search_shop")
    print(f"top-{TOP} hit rate over HTTP ({search}): {rate:.0%}; missed {missed}")
    assert rate >= REQUIRED_HIT_RATE, missed
    chat = client.chat(assistantId=assistant["id"], input="call:search_shop gift wrap price")
    kinds = [c["type"] for c in chat["costs"]]
    assert ("knowledge-base" in kinds) == (search == "embeddings")


def test_another_org_can_neither_see_attach_nor_search(api: Api, other_api: Api, fake_llm: FakeLLM) -> None:
    faq = uploaded(api, "faq.md", (KB / "faq.md").read_bytes())
    assert settled(api, faq["id"])["status"] == "done"
    base = knowledge_base(api, "private", [faq["id"]])
    assert other_api.get(f"/v2/knowledge-base/{base['id']}").status_code == 404
    assert other_api.get(f"/v2/knowledge-base/{base['id']}/file").status_code == 404
    assert other_api.get("/v2/knowledge-base").json() == []
    assert other_api.delete(f"/v2/knowledge-base/{base['id']}").status_code == 404
    own = uploaded(other_api, "mine.md", b"# Mine\nNothing here.")
    assert other_api.post(f"/v2/knowledge-base/{base['id']}/file", {"fileId": own["id"]}).status_code == 404
    theirs = api.post(f"/v2/knowledge-base/{base['id']}/file", {"fileId": own["id"]})
    assert theirs.status_code == 400 and "fileId" in str(theirs.json()["message"])
    refused = other_api.post("/tool", {"type": "knowledgeBase", "knowledgeBaseId": base["id"]})
    assert refused.status_code == 400 and "knowledgeBaseId" in str(refused.json()["message"])
    query = {"provider": "google", "name": "x", "fileIds": [faq["id"]]}
    refused = other_api.post("/tool", {"type": "query", "knowledgeBases": [query]})
    assert refused.status_code == 400 and "knowledgeBases[0].fileIds" in str(refused.json()["message"])

    inline = [
        {"type": "knowledgeBase", "knowledgeBaseId": base["id"], "function": {"name": "search_private"}},
        {"type": "query", "function": {"name": "ask_private"}, "knowledgeBases": [query]},
    ]
    assistant = {"model": {"provider": "openai", "model": "gpt-4o-mini", "tools": inline}}
    for name in ("search_private", "ask_private"):
        chat = other_api.chat(assistant=assistant, input=f"call:{name} password reset link")
        assert tool_result(chat) == "No passages of the knowledge base match.", name


def test_deleting_files_and_knowledge_bases_cleans_up(api: Api) -> None:
    faq = uploaded(api, "faq.md", (KB / "faq.md").read_bytes())
    hours = uploaded(api, "hours.md", (KB / "hours.md").read_bytes())
    for file in (faq, hours):
        settled(api, file["id"])
    base = knowledge_base(api, "cleanup", [faq["id"], hours["id"]])
    other = knowledge_base(api, "second", [faq["id"]])
    assert other["files"][0]["status"] == "ready"  # indexed already, shared

    detached = api.delete(f"/v2/knowledge-base/{base['id']}/file/{hours['id']}")
    assert detached.status_code == 200 and detached.json()["fileId"] == hours["id"]
    assert api.delete(f"/v2/knowledge-base/{base['id']}/file/{hours['id']}").status_code == 404
    assert api.delete(f"/file/{faq['id']}").status_code == 200
    assert api.get(f"/v2/knowledge-base/{base['id']}/file").json() == []
    assert api.get(f"/v2/knowledge-base/{other['id']}").json()["files"] == []

    renamed = api.patch(f"/v2/knowledge-base/{base['id']}", {"description": "Gone soon"})
    assert renamed.status_code == 200 and renamed.json()["description"] == "Gone soon"
    assert api.delete(f"/v2/knowledge-base/{base['id']}").status_code == 200
    assert api.get(f"/v2/knowledge-base/{base['id']}").status_code == 404
    assert api.get(f"/tool/{base['toolId']}").status_code == 404
    assert [b["id"] for b in api.get("/v2/knowledge-base").json()] == [other["id"]]


def test_statuses_and_retry(api: Api) -> None:
    broken = uploaded(api, "broken.pdf", b"this is not a pdf")
    assert settled(api, broken["id"])["status"] == "failed"
    good = uploaded(api, "hours.md", (KB / "hours.md").read_bytes())
    settled(api, good["id"])
    base = knowledge_base(api, "statuses", [broken["id"], good["id"]])
    by_file = {f["fileId"]: f for f in base["files"]}
    assert (
        by_file[broken["id"]]["status"] == "failed" and "not a PDF" in by_file[broken["id"]]["failedReason"]
    )
    assert by_file[good["id"]]["status"] == "ready"
    retried = api.post(f"/v2/knowledge-base/{base['id']}/file/{broken['id']}/retry")
    assert retried.status_code == 201 and retried.json()["status"] == "failed"
    refused = api.post(f"/v2/knowledge-base/{base['id']}/file/{good['id']}/retry")
    assert refused.status_code == 400 and "fileId" in str(refused.json()["message"])
    again = api.post(f"/v2/knowledge-base/{base['id']}/file", {"fileId": good["id"]})
    assert again.status_code == 201 and again.json()["status"] == "ready"
    for body, field in (({}, "fileId"), ({"fileId": 5}, "fileId"), ({"fileId": "x", "extra": 1}, "extra")):
        response = api.post(f"/v2/knowledge-base/{base['id']}/file", body)
        assert response.status_code == 400 and field in str(response.json()["message"]), body
    for body, field in (({}, "name"), ({"name": ""}, "name"), ({"name": "n" * 81}, "name")):
        response = api.post("/v2/knowledge-base", body)
        assert response.status_code == 400 and field in str(response.json()["message"]), body
