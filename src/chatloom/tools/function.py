"""Function tools with a server: Vapi's `tool-calls` server message, POSTed to the tool's server.

The payload is a superset of what integrations in the wild read (`toolCallList[i].function.name`,
`.name`, `.arguments`, `.parameters`); results are matched to calls by `toolCallId`. Any failure
(refused URL, unreachable server, timeout, non-2xx answer, unreadable body, missing result) becomes an
error result the model sees; the turn goes on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from chatloom.domain.errors import OutboundUrlRefused
from chatloom.domain.messages import ToolCall
from chatloom.outbound.http import OutboundFailure, OutboundHttp
from chatloom.outbound.vapi_server import post_message
from chatloom.tools.calls import ToolResult, arguments_of, as_text, error_result


def tool_call_entry(call: ToolCall) -> dict[str, Any]:
    arguments = arguments_of(call)
    name = call["function"]["name"]
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": name, "arguments": arguments},
        "name": name,
        "arguments": arguments,
        "parameters": arguments,
    }


def tool_calls_message(
    calls: Sequence[tuple[ToolCall, Mapping[str, Any]]], chat: Mapping[str, Any], assistant: Mapping[str, Any]
) -> dict[str, Any]:
    entries = [tool_call_entry(call) for call, _tool in calls]
    return {
        "type": "tool-calls",
        "timestamp": int(time.time() * 1000),
        "toolCallList": entries,
        "toolWithToolCallList": [
            {**tool, "toolCall": entry} for (_call, tool), entry in zip(calls, entries, strict=True)
        ],
        "chat": dict(chat),
        "assistant": dict(assistant),
    }


class FunctionToolServer:
    def __init__(self, http: OutboundHttp, default_secret: str | None = None) -> None:
        """`default_secret` signs requests to servers that have no `secret` of their own."""
        self.http = http
        self.default_secret = default_secret

    async def run(
        self,
        server: Mapping[str, Any],
        calls: Sequence[tuple[ToolCall, Mapping[str, Any]]],
        chat: Mapping[str, Any],
        assistant: Mapping[str, Any],
        auth_headers: Mapping[str, str] | None = None,
    ) -> list[ToolResult]:
        """Sends the calls (all for this server) in one `tool-calls` message; one result per call.
        `auth_headers` come from the server's `credentialId`; its own `headers` win over them."""
        only_calls = [call for call, _tool in calls]

        def failed(reason: str) -> list[ToolResult]:
            return [error_result(call, reason) for call in only_calls]

        try:
            message = tool_calls_message(calls, chat, assistant)
            response = await post_message(self.http, server, message, self.default_secret, auth_headers)
        except OutboundUrlRefused as refused:
            return failed(f"the tool server URL was refused: {refused.message}")
        except OutboundFailure as failure:
            return failed(f"the tool server could not be reached: {failure}")
        if not 200 <= response.status < 300:
            return failed(f"the tool server answered HTTP {response.status}")
        try:
            results = orjson.loads(response.body).get("results")
        except (orjson.JSONDecodeError, AttributeError):
            results = None
        if not isinstance(results, list):
            return failed("the tool server's answer has no `results` list")
        by_id = {r.get("toolCallId"): r for r in results if isinstance(r, dict)}
        if len(only_calls) == 1 and len(results) == 1 and only_calls[0]["id"] not in by_id:
            by_id = {only_calls[0]["id"]: results[0]}
        return [self._result(call, by_id.get(call["id"])) for call in only_calls]

    @staticmethod
    def _result(call: ToolCall, answer: dict[str, Any] | None) -> ToolResult:
        if answer is None:
            return error_result(call, "the tool server returned no result for this call")
        if answer.get("error") not in (None, ""):
            return error_result(call, as_text(answer["error"]))
        return ToolResult(call, as_text(answer.get("result", "")))
