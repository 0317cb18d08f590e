"""apiRequest tools: chatloom itself calls `method url` with the model's arguments.

Arguments go in a JSON body (query string for GET and DELETE), with static values from
`body.properties.<name>.value` and headers from `headers.properties.<name>.value`; `url` may use Liquid
over the arguments. The result the model sees is the HTTP status and the (size-bounded) body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from chatloom.domain.errors import ChatloomError
from chatloom.domain.messages import ToolCall
from chatloom.outbound.http import Backoff, OutboundFailure, OutboundHttp
from chatloom.tools.calls import ToolResult, arguments_of, as_text, error_result

DEFAULT_TIMEOUT_SECONDS = 20.0
QUERY_METHODS = frozenset(("GET", "DELETE"))

Renderer = Callable[[str, Mapping[str, Any]], Awaitable[str]]


def static_values(schema: Any) -> dict[str, Any]:
    """`{name: value}` for each property of a JSON-schema object that carries a fixed `value`."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {
        name: spec["value"] for name, spec in properties.items() if isinstance(spec, dict) and "value" in spec
    }


def model_parameters(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema the model fills for this tool: the body schema without its fixed values."""
    body = tool.get("body")
    if not isinstance(body, dict):
        return {"type": "object", "properties": {}}
    properties = {
        name: {key: value for key, value in spec.items() if key != "value"}
        for name, spec in (body.get("properties") or {}).items()
        if isinstance(spec, dict) and "value" not in spec
    }
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [name for name in body.get("required") or [] if name in properties]
    if required:
        schema["required"] = required
    return schema


class ApiRequestRunner:
    def __init__(self, http: OutboundHttp, render: Renderer) -> None:
        self.http = http
        self.render = render

    async def run(
        self, tool: Mapping[str, Any], call: ToolCall, auth_headers: Mapping[str, str] | None = None
    ) -> ToolResult:
        """Calls the tool's URL; `auth_headers` come from its `credentialId`, its own headers win."""
        arguments = arguments_of(call)
        method = str(tool.get("method", "POST")).upper()
        try:
            url = await self.render(str(tool.get("url", "")), arguments)
        except ChatloomError as error:
            return error_result(call, f"the tool's url could not be rendered: {error.message}")
        values = {**arguments, **static_values(tool.get("body"))}
        headers = {
            **(auth_headers or {}),
            **{name: str(value) for name, value in static_values(tool.get("headers")).items()},
        }
        query = {name: value if isinstance(value, str) else as_text(value) for name, value in values.items()}
        try:
            response = await self.http.request(
                method,
                url,
                json=None if method in QUERY_METHODS else values,
                params=query if method in QUERY_METHODS else None,
                headers=headers,
                timeout_seconds=float(tool.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS),
                backoff=Backoff.from_plan(tool.get("backoffPlan"), Backoff()),
                field="url",
            )
        except ChatloomError as refused:
            return error_result(call, f"the request was refused: {refused.message}")
        except OutboundFailure as failure:
            return error_result(call, f"the request failed: {failure}")
        text = response.body.decode("utf-8", errors="replace")
        content = as_text(f"HTTP {response.status}\n{text}")
        return ToolResult(call, content)
