"""Output models of the Vapi routes: what `/chat`, `/session`, `/assistant` and `/tool` really return.

They document the API (OpenAPI response schemas) and are never used to serialise a response: routes
send the stored documents as they are, pre-serialised by orjson. Optional fields are nullable because
a client may store an explicit null; models whose documents are open (unknown fields are kept) allow
additional properties.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class OpenOut(BaseModel):
    """A document that may carry fields beyond the ones listed (kept as the client sent them)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ClosedOut(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ToolCallFunction(OpenOut):
    name: str
    arguments: str


class ToolCall(OpenOut):
    id: str
    type: Literal["function"]
    function: ToolCallFunction


class ChatMessage(OpenOut):
    """A chat message in the OpenAI chat shape (input, output, history and session messages)."""

    role: str
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None


class ModelRef(ClosedOut):
    provider: str
    model: str


class ModelCost(OpenOut):
    """Vapi's `ModelCost`: one model call's tokens and cost (USD)."""

    type: Literal["model"]
    model: ModelRef
    prompt_tokens: int = Field(alias="promptTokens")
    completion_tokens: int = Field(alias="completionTokens")
    cached_prompt_tokens: int | None = Field(None, alias="cachedPromptTokens")
    reasoning_tokens: int | None = Field(
        None,
        alias="reasoningTokens",
        description="Reasoning tokens, where the provider reports them: part of `completionTokens`.",
    )
    cost: float


class Stored(OpenOut):
    """The fields every stored record has."""

    id: str
    org_id: str = Field(alias="orgId")
    created_at: str = Field(alias="createdAt", description="ISO 8601 timestamp (UTC).")
    updated_at: str = Field(alias="updatedAt", description="ISO 8601 timestamp (UTC).")


class Chat(Stored):
    """Vapi's `Chat`: one turn, its context and what the model answered."""

    assistant_id: str | None = Field(None, alias="assistantId")
    assistant: dict[str, Any] | None = Field(None, description="The inline assistant of the chat, if any.")
    assistant_overrides: dict[str, Any] | None = Field(None, alias="assistantOverrides")
    name: str | None = None
    session_id: str | None = Field(None, alias="sessionId")
    previous_chat_id: str | None = Field(None, alias="previousChatId")
    input: str | list[ChatMessage] | None = None
    stream: bool | None = Field(None, description="Whether the turn was asked for as a stream.")
    messages: list[ChatMessage] | None = Field(None, description="The context the model saw before `input`.")
    output: list[ChatMessage] | None = None
    costs: list[ModelCost] | None = None
    cost: float | None = None


class ChatAccepted(ClosedOut):
    """The answer to `POST /chat` with `background: true`: the turn runs on; its chat is stored when it
    ends (follow it with `GET /chat/{id}/stream`)."""

    id: str
    org_id: str = Field(alias="orgId")
    status: Literal["queued", "in_progress", "completed", "failed", "cancelled"]


class OutputResult(OpenOut):
    name: str
    result: Any = Field(description="The extracted value, shaped by the output's schema; null if it failed.")


class SkippedOutput(OpenOut):
    name: str
    unmet_condition: dict[str, Any] = Field(alias="unmetCondition")


class Artifact(OpenOut):
    """A completed session's artifact (Vapi's `Artifact`): its structured outputs, by output id."""

    structured_outputs: dict[str, OutputResult] | None = Field(None, alias="structuredOutputs")
    skipped_structured_outputs: dict[str, SkippedOutput] | None = Field(
        None, alias="skippedStructuredOutputs"
    )
    structured_outputs_last_updated_at: str | None = Field(None, alias="structuredOutputsLastUpdatedAt")


class StructuredOutput(Stored):
    """Vapi's `StructuredOutput`: a named JSON Schema extracted from finished conversations."""

    type: Literal["ai", "regex"]
    name: str
    schema_: dict[str, Any] = Field(alias="schema")
    regex: str | None = None
    model: dict[str, Any] | None = None
    description: str | None = None
    conditions: list[dict[str, Any]] | None = None
    assistant_ids: list[str] | None = Field(None, alias="assistantIds")
    compliance_plan: dict[str, Any] | None = Field(None, alias="compliancePlan")


class Session(Stored):
    """Vapi's `Session`: a conversation with one assistant, its messages and costs."""

    name: str | None = None
    status: Literal["active", "completed"]
    expiration_seconds: int | None = Field(None, alias="expirationSeconds")
    assistant_id: str | None = Field(None, alias="assistantId")
    assistant: dict[str, Any] | None = None
    assistant_overrides: dict[str, Any] | None = Field(None, alias="assistantOverrides")
    messages: list[ChatMessage] | None = None
    customer: dict[str, Any] | None = None
    customer_id: str | None = Field(None, alias="customerId")
    cost: float | None = None
    costs: list[ModelCost] | None = None
    artifact: Artifact | None = Field(
        None, description="What was extracted from the session once it completed (its structured outputs)."
    )


class Assistant(Stored):
    """Vapi's `Assistant`: the fields chats use are listed; every other field is kept as given."""

    name: str | None = None
    model: dict[str, Any] | None = None
    first_message: str | None = Field(None, alias="firstMessage")
    metadata: dict[str, Any] | None = None
    server: dict[str, Any] | None = None
    server_messages: list[str] | None = Field(None, alias="serverMessages")


class Tool(Stored):
    """A stored `function` or `apiRequest` tool (Vapi's `FunctionTool` / `ApiRequestTool`)."""

    type: Literal["function", "apiRequest", "mcp", "query", "handoff", "knowledgeBase"]
    function: dict[str, Any] | None = None
    server: dict[str, Any] | None = None
    async_: bool | None = Field(None, alias="async")
    messages: list[dict[str, Any]] | None = None
    method: str | None = None
    url: str | None = None
    name: str | None = None
    description: str | None = None
    timeout_seconds: float | None = Field(None, alias="timeoutSeconds")
    body: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None
    backoff_plan: dict[str, Any] | None = Field(None, alias="backoffPlan")
    knowledge_bases: list[dict[str, Any]] | None = Field(None, alias="knowledgeBases")
    knowledge_base_id: str | None = Field(None, alias="knowledgeBaseId")


class Squad(Stored):
    """A stored squad: assistants that hand a conversation to each other."""

    name: str | None = None
    members: list[dict[str, Any]]
    members_overrides: dict[str, Any] | None = Field(None, alias="membersOverrides")


class Credential(ClosedOut):
    """A stored credential as the API shows it: never its secret, only the last characters as `hint`."""

    id: str
    org_id: str = Field(alias="orgId")
    provider: str
    name: str | None = None
    hint: str = Field(description="The last characters of the credential's key.")
    created_at: str = Field(alias="createdAt")
    updated_at: str = Field(alias="updatedAt")


class WebChat(ClosedOut):
    """What `POST /chat/web` answers: the chat's id, its session and what the model said."""

    id: str
    session_id: str | None = Field(None, alias="sessionId")
    output: list[ChatMessage]


class PaginationMeta(ClosedOut):
    items_per_page: int = Field(alias="itemsPerPage")
    total_items: int = Field(alias="totalItems")
    current_page: int = Field(alias="currentPage")
    total_pages: int = Field(alias="totalPages")
    has_next_page: bool = Field(alias="hasNextPage")
    sort_order: Literal["ASC", "DESC"] = Field(alias="sortOrder")
    items_beyond_retention: bool = Field(
        alias="itemsBeyondRetention", description="Whether items older than the retention period exist."
    )


class ChatPaginatedResponse(ClosedOut):
    results: list[Chat]
    metadata: PaginationMeta


class SessionPaginatedResponse(ClosedOut):
    results: list[Session]
    metadata: PaginationMeta


class StructuredOutputPaginatedResponse(ClosedOut):
    results: list[StructuredOutput]
    metadata: PaginationMeta


class Health(ClosedOut):
    status: Literal["ok"]
    version: str


class CreateChatStreamResponse(ClosedOut):
    """One `data:` frame of a streamed `POST /chat`: a chunk of text for `path` of the chat."""

    id: str = Field(description="The chat's id.")
    session_id: str | None = Field(None, alias="sessionId")
    path: str = Field(description="Where the text goes, e.g. `chat.output[0].content`.")
    delta: str


class StreamError(ClosedOut):
    message: str
    type: str
    status_code: int = Field(alias="statusCode")


class ChatStreamError(ClosedOut):
    """The frame a streamed `POST /chat` sends when its turn fails (then `[DONE]`); nothing is stored."""

    id: str
    session_id: str | None = Field(None, alias="sessionId")
    error: StreamError
