"""Work done right before a turn's first model call, only for assistants that need it: listing the tools
of their MCP servers, and asking their `model.knowledgeBase` about the latest user message (all
concurrently, with no DB connection held).

A server that cannot be listed offers no tools (logged and counted by the MCP client); a knowledge base
that fails adds nothing. Either way the turn goes on. A knowledge base's `documents` reach the model in
a system message just before the latest user message; its `message` is the turn's reply, as is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatloom.domain.messages import Message, text_of
from chatloom.engine.calls.toolbox import Toolbox
from chatloom.tools.knowledge_base import (
    CUSTOM_PROVIDER,
    KnowledgeBaseAnswer,
    KnowledgeBaseClient,
    documents_text,
)
from chatloom.tools.mcp import McpClient

log = logging.getLogger("chatloom.grounding")

DOCUMENTS_PREAMBLE = (
    "Documents from the knowledge base about the user's next message. Answer from them where they are "
    "relevant; do not mention that they were provided.\n\n"
)


@dataclass(frozen=True, slots=True)
class Grounded:
    messages: list[Message]
    """The model call's messages, with the knowledge base's documents when it gave some."""
    toolbox: Toolbox
    """The assistant's tools, with those its MCP servers listed."""
    reply: str | None = None
    """The knowledge base's own answer: the turn's reply, with no model call."""


def knowledge_base_of(model: Mapping[str, Any]) -> dict[str, Any] | None:
    base = model.get("knowledgeBase")
    server = base.get("server") if isinstance(base, dict) else None
    if isinstance(base, dict) and base.get("provider") == CUSTOM_PROVIDER and isinstance(server, dict):
        return base
    return None


def needs_grounding(toolbox: Toolbox, model: Mapping[str, Any]) -> bool:
    """Whether a turn has anything to do before its first model call (cheap: no I/O)."""
    return bool(toolbox.mcp_tools) or knowledge_base_of(model) is not None


def latest_user_text(messages: list[Message]) -> str | None:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content")) or None
    return None


def with_documents(messages: list[Message], documents_text: str) -> list[Message]:
    """`messages` with a system message of documents inserted just before the latest user message."""
    note: Message = {"role": "system", "content": DOCUMENTS_PREAMBLE + documents_text}
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return [*messages[:index], note, *messages[index:]]
    return [*messages, note]


class Grounding:
    def __init__(self, mcp: McpClient, knowledge_bases: KnowledgeBaseClient) -> None:
        self.mcp = mcp
        self.knowledge_bases = knowledge_bases

    async def apply(
        self,
        org_id: str,
        toolbox: Toolbox,
        model: Mapping[str, Any],
        messages: list[Message],
        chat: Mapping[str, Any],
        assistant: Mapping[str, Any],
    ) -> Grounded:
        """Lists the MCP servers' tools, and asks the knowledge base (if any)."""
        listings, answer = await asyncio.gather(
            asyncio.gather(*(self.mcp.list_tools(org_id, tool) for tool in toolbox.mcp_tools)),
            self._ask(model, messages, chat, assistant),
        )
        toolbox = toolbox.with_mcp_tools(listings) if toolbox.mcp_tools else toolbox
        if answer is None:
            return Grounded(messages, toolbox)
        if answer.message is not None:
            return Grounded(messages, toolbox, reply=answer.message)
        if not answer.documents:
            return Grounded(messages, toolbox)
        return Grounded(with_documents(messages, documents_text(answer.documents)), toolbox)

    async def _ask(
        self,
        model: Mapping[str, Any],
        messages: list[Message],
        chat: Mapping[str, Any],
        assistant: Mapping[str, Any],
    ) -> KnowledgeBaseAnswer | None:
        base = knowledge_base_of(model)
        query = latest_user_text(messages) if base is not None else None
        if base is None or query is None:
            return None
        conversation = [m for m in messages if m.get("role") not in ("system", "developer")]
        answer = await self.knowledge_bases.query(base, conversation, query, chat, assistant)
        if answer.error is not None:
            log.warning("the assistant's knowledge base failed: %s", answer.error)
            return None
        return answer
