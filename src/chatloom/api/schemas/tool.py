"""Tool DTOs (`CreateFunctionToolDTO`, `CreateApiRequestToolDTO`, `CreateMcpToolDTO`,
`CreateQueryToolDTO`, `CreateHandoffToolDTO`, `KnowledgeBaseTool`, their updates): the tools a chat can
run. What a chat uses is validated; every other Vapi field is kept as given. Other Vapi tool types (`endCall`,
`transferCall`, ...) are refused: they mean nothing in a chat.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, RootModel, StringConstraints, field_validator, model_validator

from chatloom.api.deps import parse_model
from chatloom.api.schemas.assistant import KnowledgeBaseIn, ServerSettings
from chatloom.api.schemas.common import Open, UrlStr
from chatloom.api.schemas.handoff import (
    MAX_DESTINATIONS,
    HandoffDestinationIn,
    HandoffToolIn,
)
from chatloom.api.schemas.knowledge_base import FileId
from chatloom.domain.errors import InvalidRequest
from chatloom.engine.records.knowledge_bases import OWN_RETRIEVAL
from chatloom.store.knowledge_bases import MAX_FILES_PER_OWNER
from chatloom.tools.knowledge_base import CUSTOM_PROVIDER

FunctionName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
ApiRequestName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,40}$")]
HttpMethod = Literal["DELETE", "GET", "PATCH", "POST", "PUT"]
TimeoutSeconds = Annotated[float, Field(ge=1, le=300)]
STORED_FIELDS = ("id", "orgId", "createdAt", "updatedAt")
"""Fields the server owns: never taken from a request body."""

_TEMPLATED_URL = re.compile(r"^https?://[^/?#\s]")


def _templated_http_url(value: str) -> str:
    # The URL may hold Liquid (`{{ id }}`) rendered per call, so only the scheme and a host are checked.
    if not _TEMPLATED_URL.match(value):
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


TemplatedUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_templated_http_url)]


class BackoffPlanIn(Open):
    """How a failed tool request is retried (Vapi's `BackoffPlan`)."""

    type: Literal["exponential", "fixed"]
    max_retries: Annotated[int, Field(ge=0, le=10)] = Field(alias="maxRetries")
    base_delay_seconds: Annotated[float, Field(ge=0, le=10)] = Field(alias="baseDelaySeconds")
    excluded_status_codes: list[int] | None = Field(None, alias="excludedStatusCodes")


class ToolServerIn(ServerSettings):
    """Where a function tool's `tool-calls` webhook goes."""

    backoff_plan: BackoffPlanIn | None = Field(None, alias="backoffPlan")


class FunctionParametersIn(Open):
    """The JSON schema of a function's arguments (`OpenAIFunctionParameters`); the provider checks the
    property schemas themselves."""

    type: Literal["object"]
    properties: dict[str, dict[str, Any]]
    required: list[str] | None = None


class JsonSchemaIn(Open):
    """`body` and `headers` of an apiRequest tool: an object schema; a property may carry a static
    `value` (sent as is) instead of being filled by the model."""

    type: Literal["object"]
    properties: dict[str, dict[str, Any]] | None = None
    required: list[str] | None = None


class FunctionDefinitionIn(Open):
    """The OpenAI function definition the model is offered (`OpenAIFunction`)."""

    name: FunctionName
    description: str | None = None
    parameters: FunctionParametersIn | None = None
    strict: bool | None = None


class FunctionToolIn(Open):
    """A function tool: the model's call goes to `server.url` as a `tool-calls` webhook, or back to the
    client when no server is set anywhere."""

    type: Literal["function"]
    function: FunctionDefinitionIn
    server: ToolServerIn | None = None
    async_: bool | None = Field(None, alias="async")
    messages: list[dict[str, Any]] | None = None


class ApiRequestToolIn(Open):
    """An apiRequest tool: chatloom itself sends `method url` with the model's arguments."""

    type: Literal["apiRequest"]
    method: HttpMethod
    url: TemplatedUrl
    name: ApiRequestName
    description: str | None = None
    timeout_seconds: TimeoutSeconds | None = Field(None, alias="timeoutSeconds")
    body: JsonSchemaIn | None = None
    headers: JsonSchemaIn | None = None
    backoff_plan: BackoffPlanIn | None = Field(None, alias="backoffPlan")
    messages: list[dict[str, Any]] | None = None


class McpMetadataIn(Open):
    """`McpToolMetadata`: how chatloom talks to the MCP server."""

    protocol: Literal["shttp", "sse"] | None = None


class McpToolMessagesIn(Open):
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    messages: list[dict[str, Any]] | None = None


class McpServerIn(ToolServerIn):
    """Where the MCP server is: `url` is required."""

    url: UrlStr


class McpToolIn(Open):
    """An mcp tool: every tool the MCP server at `server.url` offers is offered to the model."""

    type: Literal["mcp"]
    server: McpServerIn
    metadata: McpMetadataIn | None = None
    tool_messages: list[McpToolMessagesIn] | None = Field(None, alias="toolMessages")
    messages: list[dict[str, Any]] | None = None


class QueryFunctionIn(Open):
    """The name (and description) the model calls a query tool by; chatloom picks one when absent."""

    name: FunctionName | None = None
    description: str | None = None


class QueryKnowledgeBaseIn(KnowledgeBaseIn):
    """A query tool's knowledge base: a custom one (answered by its `server`), or files searched by
    chatloom's own retrieval (`provider: "google"`, as Vapi writes its file knowledge bases, with
    `fileIds`: the org's uploaded files)."""

    file_ids: Annotated[list[FileId], Field(min_length=1, max_length=MAX_FILES_PER_OWNER)] | None = Field(
        None, alias="fileIds"
    )

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in (OWN_RETRIEVAL, CUSTOM_PROVIDER):
            raise ValueError(
                f"provider '{value}' is not supported: use '{OWN_RETRIEVAL}' (files searched by this server) "
                f"or '{CUSTOM_PROVIDER}' (your own server)"
            )
        return value

    @model_validator(mode="after")
    def _custom_with_server(self) -> QueryKnowledgeBaseIn:
        if self.provider == OWN_RETRIEVAL:
            if not self.file_ids:
                raise ValueError(f"a '{OWN_RETRIEVAL}' knowledge base needs `fileIds`, the files it searches")
        elif self.file_ids is not None:
            raise ValueError(f"`fileIds` belong to a '{OWN_RETRIEVAL}' knowledge base, not a custom one")
        elif self.server is None or self.server.url is None:
            raise ValueError("a custom knowledge base needs `server.url`, where its requests are sent")
        return self


class QueryToolIn(Open):
    """A query tool: the model looks things up in `knowledgeBases` (files, or custom knowledge bases)."""

    type: Literal["query"]
    knowledge_bases: Annotated[list[QueryKnowledgeBaseIn], Field(min_length=1, max_length=10)] = Field(
        alias="knowledgeBases"
    )
    function: QueryFunctionIn | None = None
    messages: list[dict[str, Any]] | None = None


class KnowledgeBaseToolIn(Open):
    """A `knowledgeBase` tool: searches one of the org's `/v2/knowledge-base` knowledge bases (creating a
    knowledge base provisions one)."""

    type: Literal["knowledgeBase"]
    knowledge_base_id: Annotated[str, StringConstraints(min_length=1, max_length=36)] = Field(
        alias="knowledgeBaseId"
    )
    function: QueryFunctionIn | None = None
    messages: list[dict[str, Any]] | None = None


ChatTool = FunctionToolIn | ApiRequestToolIn | McpToolIn | QueryToolIn | HandoffToolIn | KnowledgeBaseToolIn

TOOL_TYPES: dict[str, type[ChatTool]] = {
    "function": FunctionToolIn,
    "apiRequest": ApiRequestToolIn,
    "mcp": McpToolIn,
    "query": QueryToolIn,
    "handoff": HandoffToolIn,
    "knowledgeBase": KnowledgeBaseToolIn,
}


class ToolIn(RootModel[Annotated[ChatTool, Field(discriminator="type")]]):
    """The body of `POST /tool` (documentation only: `parse_tool` validates, naming fields plainly)."""


class ToolPatch(Open):
    """`PATCH /tool/{id}`: the given top-level fields replace the stored ones; `type` cannot change.

    Each field is checked here, then the merged tool is validated as a whole (`apply_tool_patch`).
    """

    type: str | None = None
    function: FunctionDefinitionIn | None = None
    server: ToolServerIn | None = None
    async_: bool | None = Field(None, alias="async")
    messages: list[dict[str, Any]] | None = None
    method: HttpMethod | None = None
    url: TemplatedUrl | None = None
    name: ApiRequestName | None = None
    description: str | None = None
    timeout_seconds: TimeoutSeconds | None = Field(None, alias="timeoutSeconds")
    body: JsonSchemaIn | None = None
    headers: JsonSchemaIn | None = None
    backoff_plan: BackoffPlanIn | None = Field(None, alias="backoffPlan")
    metadata: McpMetadataIn | None = None
    tool_messages: list[McpToolMessagesIn] | None = Field(None, alias="toolMessages")
    knowledge_bases: list[QueryKnowledgeBaseIn] | None = Field(None, alias="knowledgeBases")
    knowledge_base_id: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = Field(
        None, alias="knowledgeBaseId"
    )
    destinations: Annotated[list[HandoffDestinationIn], Field(max_length=MAX_DESTINATIONS)] | None = None
    default_result: str | None = Field(None, alias="defaultResult")


def parse_tool(data: Any) -> ChatTool:
    """Validates a tool document by its `type`; a failure is a 400 naming the field."""
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    if "type" not in data or data["type"] is None:
        raise InvalidRequest(f"type: a tool needs a type: one of {_supported()}", field="type")
    kind = data["type"]
    model = TOOL_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidRequest(f"type: tool type {_quoted(kind)} is not supported in chat", field="type")
    return parse_model(model, data)


def tool_fields(tool: ChatTool) -> dict[str, Any]:
    """The document fields of a validated tool, as the client wrote them (unset fields stay unset)."""
    return tool.model_dump(by_alias=True, exclude_unset=True, mode="json")


def apply_tool_patch(stored: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The stored tool with `changes` applied, validated as a whole; a change of `type` is refused."""
    if "type" in changes and changes["type"] != stored.get("type"):
        raise InvalidRequest(
            f"type: a tool's type cannot change (this tool is {_quoted(stored.get('type'))}); "
            "create a new tool instead",
            field="type",
        )
    merged = {key: value for key, value in stored.items() if key not in STORED_FIELDS}
    merged.update((key, value) for key, value in changes.items() if key not in STORED_FIELDS)
    return tool_fields(parse_tool(merged))


def _supported() -> str:
    return ", ".join(f"'{kind}'" for kind in TOOL_TYPES)


def _quoted(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)
