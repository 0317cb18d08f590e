"""Custom knowledge bases (`provider: "custom-knowledge-base"`): Vapi's `knowledge-base-request` server
message, POSTed to the knowledge base's `server`, answered with `documents` for the model or a
`message` to reply with as is.

Signed and guarded like tool-calls messages. A failure (refused URL, unreachable server, timeout,
non-2xx or unreadable answer) is reported in the answer's `error`; it never raises.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from chatloom.domain.errors import OutboundUrlRefused
from chatloom.domain.messages import Message, text_of
from chatloom.outbound.http import OutboundFailure, OutboundHttp
from chatloom.outbound.vapi_server import post_message
from chatloom.tools.calls import as_text

MAX_DOCUMENTS = 50
CUSTOM_PROVIDER = "custom-knowledge-base"
ARTIFACT_ROLES = {"user": "user", "assistant": "bot", "system": "system"}


@dataclass(slots=True)
class KnowledgeBaseAnswer:
    documents: list[dict[str, Any]] = field(default_factory=list)
    """`{content, similarity?, uuid?}` documents, as the server gave them (at most `MAX_DOCUMENTS`)."""
    message: str | None = None
    """A reply to give as is, with no model call (`message.content` of the answer)."""
    error: str | None = None


def _text(message: Mapping[str, Any]) -> str:
    return text_of(message.get("content"))


def artifact_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation as Vapi's artifact messages (`{role: user|bot|system, message, time, ...}`)."""
    now = int(time.time() * 1000)
    return [
        {
            "role": ARTIFACT_ROLES[m["role"]],
            "message": _text(m),
            "time": now,
            "endTime": now,
            "secondsFromStart": 0,
        }
        for m in messages
        if m.get("role") in ARTIFACT_ROLES and _text(m)
    ]


def knowledge_base_request(
    messages: Sequence[Message],
    query: str,
    chat: Mapping[str, Any],
    assistant: Mapping[str, Any],
    knowledge_base: Mapping[str, Any],
) -> dict[str, Any]:
    """Vapi's `ServerMessageKnowledgeBaseRequest`, plus `query` (what is looked up) and the
    `knowledgeBase` asked (without its server settings)."""
    return {
        "type": "knowledge-base-request",
        "timestamp": int(time.time() * 1000),
        "messages": artifact_messages(messages),
        "messagesOpenAIFormatted": [dict(m) for m in messages],
        "query": query,
        "knowledgeBase": {k: v for k, v in knowledge_base.items() if k != "server"},
        "chat": dict(chat),
        "assistant": dict(assistant),
    }


class KnowledgeBaseClient:
    def __init__(self, http: OutboundHttp, default_secret: str | None = None) -> None:
        self.http = http
        self.default_secret = default_secret

    async def query(
        self,
        knowledge_base: Mapping[str, Any],
        messages: Sequence[Message],
        query: str,
        chat: Mapping[str, Any],
        assistant: Mapping[str, Any],
    ) -> KnowledgeBaseAnswer:
        server = knowledge_base.get("server")
        if knowledge_base.get("provider") != CUSTOM_PROVIDER or not isinstance(server, dict):
            return KnowledgeBaseAnswer(error="only custom knowledge bases (with a server) can be queried")
        message = knowledge_base_request(messages, query, chat, assistant, knowledge_base)
        try:
            response = await post_message(self.http, server, message, self.default_secret)
        except OutboundUrlRefused as refused:
            return KnowledgeBaseAnswer(error=f"the knowledge base URL was refused: {refused.message!s}")
        except OutboundFailure as failure:
            return KnowledgeBaseAnswer(error=f"the knowledge base could not be reached: {failure}")
        if not 200 <= response.status < 300:
            return KnowledgeBaseAnswer(error=f"the knowledge base answered HTTP {response.status}")
        try:
            body = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return KnowledgeBaseAnswer(error="the knowledge base's answer is not a JSON object")
        return answer_of(body)


def answer_of(body: Mapping[str, Any]) -> KnowledgeBaseAnswer:
    reply = body.get("message")
    if isinstance(reply, dict) and _text(reply):
        return KnowledgeBaseAnswer(message=_text(reply))
    documents = [
        {k: v for k, v in document.items() if k in ("content", "similarity", "uuid")}
        for document in body.get("documents") or []
        if isinstance(document, dict) and isinstance(document.get("content"), str)
    ]
    return KnowledgeBaseAnswer(documents=documents[:MAX_DOCUMENTS])


def documents_text(documents: Sequence[Mapping[str, Any]]) -> str:
    """Documents as one text for the model (bounded like a tool result)."""
    if not documents:
        return "No relevant documents were found."
    return as_text("\n\n".join(f"[{index}] {d['content']}" for index, d in enumerate(documents, start=1)))
