"""Runs one round of a model's tool calls: server-side function tools, apiRequest tools, MCP server
tools, query tools (knowledge bases), and which calls are left to the client (function tools with no
server anywhere).

Calls to one tool server go in one `tool-calls` message; different servers, apiRequest, MCP and query
calls run concurrently. Results come back in the order of the calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatloom.domain.errors import InvalidRequest
from chatloom.domain.messages import Message, ToolCall
from chatloom.engine.access.credentials import NO_CREDENTIALS, TurnCredentials
from chatloom.engine.calls.toolbox import CALLER_FUNCTION, MCP_SERVER_TOOL, Toolbox
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
    ) -> None:
        self.observer = observer or Observer()
        self.function_tools = function_tools
        self.api_requests = api_requests
        self.mcp = mcp
        self.knowledge_bases = knowledge_bases

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
                    jobs.append(group.create_task(self._query(tool, call, chat, assistant)))
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

    async def _query(
        self, tool: dict[str, Any], call: ToolCall, chat: Mapping[str, Any], assistant: Mapping[str, Any]
    ) -> list[ToolResult]:
        """Asks each of the tool's knowledge bases (concurrently); their documents are the result."""
        if self.knowledge_bases is None:
            return [error_result(call, "knowledge bases are not available on this server")]
        query = arguments_of(call).get("query")
        if not isinstance(query, str) or not query.strip():
            return [error_result(call, "the query tool needs a `query` argument (text)")]
        messages: list[Message] = [*chat.get("messages", []), *chat.get("output", [])]
        bases = [base for base in tool.get("knowledgeBases") or [] if isinstance(base, dict)]
        client = self.knowledge_bases
        answers = await asyncio.gather(
            *(client.query(base, messages, query, chat, assistant) for base in bases)
        )
        replies = [answer.message for answer in answers if answer.message]
        documents = [document for answer in answers for document in answer.documents]
        errors = [answer.error for answer in answers if answer.error]
        if errors and not documents and not replies:
            return [error_result(call, "; ".join(errors))]
        text = "\n\n".join([*replies, documents_text(documents)] if documents or not replies else replies)
        return [ToolResult(call, text)]
