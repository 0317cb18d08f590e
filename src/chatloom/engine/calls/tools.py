"""Runs one round of a model's tool calls: server-side function tools, apiRequest tools, MCP server
tools, query tools and knowledgeBase tools (knowledge bases: custom ones asked over HTTP, file ones
searched here), and which calls are left to the client (function tools with no server anywhere).

A file knowledge base is searched with the call's `query` argument, or, when the model gives none (Vapi's
models call query tools with `knowledgeBaseNames` only), with the last user message. The result is the
top passages under their file names and heading paths, so the chat's tool message shows where an answer
came from; the search's embedding call is billed in the round's `knowledge_calls`.

Calls to one tool server go in one `tool-calls` message; different servers, apiRequest, MCP and query
calls run concurrently. Results come back in the order of the calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatloom.domain.errors import InvalidRequest
from chatloom.domain.messages import Message, ToolCall, text_of
from chatloom.domain.usage import KnowledgeBaseCall
from chatloom.engine.access.credentials import NO_CREDENTIALS, TurnCredentials
from chatloom.engine.calls.file_knowledge import FileKnowledge, Found
from chatloom.engine.calls.toolbox import CALLER_FUNCTION, KNOWLEDGE_BASE, MCP_SERVER_TOOL, Toolbox
from chatloom.engine.records.knowledge_bases import OWN_RETRIEVAL
from chatloom.observability.hooks import Observer
from chatloom.tools.api_request import ApiRequestRunner
from chatloom.tools.calls import ToolResult, arguments_of, error_result
from chatloom.tools.function import FunctionToolServer
from chatloom.tools.knowledge_base import KnowledgeBaseClient, documents_text
from chatloom.tools.mcp import McpClient


@dataclass(slots=True)
class ToolRound:
    results: list[ToolResult] = field(default_factory=list)
    client_calls: list[ToolCall] = field(default_factory=list)
    """Calls the client must answer in its next chat (function tools without a server)."""
    knowledge_calls: list[KnowledgeBaseCall] = field(default_factory=list)
    """The embedding calls of the round's knowledge-base searches, as billed."""


def server_of(tool: Mapping[str, Any], assistant: Mapping[str, Any]) -> dict[str, Any] | None:
    for server in (tool.get("server"), assistant.get("server")):
        if isinstance(server, dict) and server.get("url"):
            return server
    return None


class ToolRunner:
    def __init__(
        self,
        function_tools: FunctionToolServer,
        api_requests: ApiRequestRunner,
        mcp: McpClient | None = None,
        knowledge_bases: KnowledgeBaseClient | None = None,
        observer: Observer | None = None,
        files: FileKnowledge | None = None,
    ) -> None:
        self.observer = observer or Observer()
        self.function_tools = function_tools
        self.api_requests = api_requests
        self.mcp = mcp
        self.knowledge_bases = knowledge_bases
        self.files = files

    async def run(
        self,
        calls: list[ToolCall],
        toolbox: Toolbox,
        assistant: Mapping[str, Any],
        chat: Mapping[str, Any],
        credentials: TurnCredentials = NO_CREDENTIALS,
    ) -> ToolRound:
        round_ = ToolRound()
        by_server: dict[str, tuple[dict[str, Any], list[tuple[ToolCall, dict[str, Any]]]]] = {}
        jobs: list[asyncio.Task[list[ToolResult]]] = []
        immediate: list[ToolResult] = []
        async with asyncio.TaskGroup() as group:
            for call in calls:
                tool = toolbox.by_name.get(call["function"]["name"])
                if tool is None:
                    immediate.append(
                        error_result(call, f"there is no tool named '{call['function']['name']}'")
                    )
                elif tool.get("type") == "apiRequest":
                    try:
                        auth = credentials.headers_for(tool.get("credentialId"), "credentialId")
                    except InvalidRequest as error:
                        immediate.append(error_result(call, error.message_text))
                        continue
                    jobs.append(group.create_task(self._one(tool, call, auth)))
                elif tool.get("type") == MCP_SERVER_TOOL:
                    jobs.append(group.create_task(self._mcp(tool, call, chat)))
                elif tool.get("type") == "query":
                    jobs.append(group.create_task(self._query(tool, call, chat, assistant, round_)))
                elif tool.get("type") == KNOWLEDGE_BASE:
                    jobs.append(group.create_task(self._knowledge_base(tool, call, chat, round_)))
                elif tool.get("type") == CALLER_FUNCTION or (server := server_of(tool, assistant)) is None:
                    round_.client_calls.append(call)
                else:
                    by_server.setdefault(str(server["url"]), (server, []))[1].append((call, tool))
            for server, server_calls in by_server.values():
                try:
                    auth = credentials.headers_for(server.get("credentialId"), "server.credentialId")
                except InvalidRequest as error:
                    immediate.extend(error_result(call, error.message_text) for call, _ in server_calls)
                    continue
                jobs.append(
                    group.create_task(self.function_tools.run(server, server_calls, chat, assistant, auth))
                )
        found = {result.call["id"]: result for result in immediate}
        for job in jobs:
            found.update((result.call["id"], result) for result in job.result())
        round_.results = [found[call["id"]] for call in calls if call["id"] in found]
        if self.observer.enabled:
            failed = sum(result.content.startswith("Error:") for result in round_.results)
            self.observer.tool_calls("ok", len(round_.results) - failed)
            self.observer.tool_calls("error", failed)
            self.observer.tool_calls("client", len(round_.client_calls))
        return round_

    async def _one(self, tool: dict[str, Any], call: ToolCall, auth: dict[str, str]) -> list[ToolResult]:
        return [await self.api_requests.run(tool, call, auth)]

    async def _mcp(self, tool: dict[str, Any], call: ToolCall, chat: Mapping[str, Any]) -> list[ToolResult]:
        if self.mcp is None:
            return [error_result(call, "MCP tools are not available on this server")]
        org_id = str(chat.get("orgId", ""))
        return [await self.mcp.call_tool(org_id, tool["mcpTool"], str(tool["toolName"]), call)]

    async def _knowledge_base(
        self, tool: dict[str, Any], call: ToolCall, chat: Mapping[str, Any], round_: ToolRound
    ) -> list[ToolResult]:
        """Searches the ready files of the tool's `/v2/knowledge-base` (the chat's org's only)."""
        if self.files is None:
            return [error_result(call, "knowledge bases are not available on this server")]
        org_id = str(chat.get("orgId", ""))
        file_ids = await self.files.base_files(org_id, str(tool.get("knowledgeBaseId") or ""))
        found = await self.files.search(org_id, file_ids, search_text(call, chat))
        return [self._found(call, found, round_)]

    def _found(self, call: ToolCall, found: Found, round_: ToolRound) -> ToolResult:
        if found.call is not None:
            round_.knowledge_calls.append(found.call)
        return ToolResult(call, found.text)

    async def _query(
        self,
        tool: dict[str, Any],
        call: ToolCall,
        chat: Mapping[str, Any],
        assistant: Mapping[str, Any],
        round_: ToolRound,
    ) -> list[ToolResult]:
        """Searches the tool's file knowledge bases and asks its custom ones (concurrently); their passages
        and documents are the result."""
        bases = [base for base in tool.get("knowledgeBases") or [] if isinstance(base, dict)]
        file_ids = [
            str(file_id)
            for base in bases
            if base.get("provider") == OWN_RETRIEVAL
            for file_id in base.get("fileIds") or []
        ]
        custom = [base for base in bases if base.get("provider") != OWN_RETRIEVAL]
        query = arguments_of(call).get("query")
        if custom and (not isinstance(query, str) or not query.strip()):
            query = search_text(call, chat)
        texts: list[str] = []
        if file_ids:
            if self.files is None:
                return [error_result(call, "knowledge bases are not available on this server")]
            org_id = str(chat.get("orgId", ""))
            found = await self.files.search(org_id, list(dict.fromkeys(file_ids)), search_text(call, chat))
            texts.append(self._found(call, found, round_).content)
        if not custom:
            return [ToolResult(call, texts[0] if texts else "No passages of the knowledge base match.")]
        if self.knowledge_bases is None:
            return [error_result(call, "knowledge bases are not available on this server")]
        if not isinstance(query, str) or not query.strip():
            return [error_result(call, "the query tool needs a `query` argument (text)")]
        messages: list[Message] = [*chat.get("messages", []), *chat.get("output", [])]
        client = self.knowledge_bases
        answers = await asyncio.gather(
            *(client.query(base, messages, query, chat, assistant) for base in custom)
        )
        replies = [answer.message for answer in answers if answer.message]
        documents = [document for answer in answers for document in answer.documents]
        errors = [answer.error for answer in answers if answer.error]
        if errors and not documents and not replies and not texts:
            return [error_result(call, "; ".join(errors))]
        if documents or not replies:
            texts.append(documents_text(documents))
        text = "\n\n".join([*replies, *texts])
        return [ToolResult(call, text)]


def search_text(call: ToolCall, chat: Mapping[str, Any]) -> str:
    """What a knowledge base is searched with: the call's `query` argument, else the last user message."""
    query = arguments_of(call).get("query")
    if isinstance(query, str) and query.strip():
        return query
    for message in reversed([*chat.get("messages", []), *chat.get("output", [])]):
        if isinstance(message, Mapping) and message.get("role") == "user":
            text = text_of(message.get("content"))
            if text.strip():
                return text
    return ""
