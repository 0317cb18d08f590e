"""Output models of `POST /chat/responses` (OpenAI's `Response`) and the error bodies of every route.

Documentation only, like `records_out`: responses are built as dicts and serialised by orjson.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from chatloom.api.schemas.records_out import ClosedOut


class ErrorBody(ClosedOut):
    """Vapi's error body."""

    message: str | list[str] = Field(description="What went wrong, naming the offending field.")
    error: str = Field(description="The HTTP status phrase.")
    status_code: int = Field(alias="statusCode")


class OpenAIErrorDetail(ClosedOut):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(ClosedOut):
    """OpenAI's error envelope, plus Vapi's top-level `message` and `statusCode`."""

    error: OpenAIErrorDetail
    message: str | list[str]
    status_code: int = Field(alias="statusCode")


class OutputText(ClosedOut):
    type: Literal["output_text"]
    text: str
    annotations: list[Any]
    logprobs: list[Any]


class OutputMessage(ClosedOut):
    id: str
    type: Literal["message"]
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"]
    content: list[OutputText]


class FunctionCallItem(ClosedOut):
    id: str
    type: Literal["function_call"]
    status: Literal["in_progress", "completed", "incomplete"]
    call_id: str
    name: str
    arguments: str


class SummaryText(ClosedOut):
    type: Literal["summary_text"]
    text: str


class ReasoningItem(ClosedOut):
    """The model's reasoning summaries, where the provider gives them (`reasoning.summary`)."""

    id: str
    type: Literal["reasoning"]
    summary: list[SummaryText]
    status: Literal["completed"] | None = None
    encrypted_content: str | None = None


OutputItem = Annotated[OutputMessage | FunctionCallItem | ReasoningItem, Field(discriminator="type")]


class InputTokensDetails(ClosedOut):
    cached_tokens: int
    cache_write_tokens: int


class OutputTokensDetails(ClosedOut):
    reasoning_tokens: int


class ResponseUsage(ClosedOut):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class ResponseError(ClosedOut):
    code: str
    message: str


class Reasoning(ClosedOut):
    effort: str | None
    summary: str | None


class TextFormat(ClosedOut):
    """`{"type": "text"}`, `{"type": "json_object"}` or `{"type": "json_schema", "name", "schema", "strict",
    "description"}`, as the request asked."""

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class TextConfig(ClosedOut):
    format: TextFormat
    verbosity: str


class OpenAIResponse(ClosedOut):
    """OpenAI's `Response` object; `id` is the chat's id (usable as `previous_response_id`)."""

    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "failed", "in_progress", "incomplete", "queued", "cancelled"]
    background: bool
    completed_at: int | None
    error: ResponseError | None
    incomplete_details: dict[str, Any] | None
    instructions: str | None
    max_output_tokens: int | None
    max_tool_calls: int | None
    model: str
    output: list[OutputItem]
    parallel_tool_calls: bool
    previous_response_id: str | None
    conversation: dict[str, Any] | None
    reasoning: Reasoning
    service_tier: str
    store: bool
    temperature: float | None
    text: TextConfig
    tool_choice: str | dict[str, Any]
    tools: list[Any]
    top_logprobs: int
    top_p: float
    truncation: str
    usage: ResponseUsage | None
    user: str | None
    safety_identifier: str | None
    prompt_cache_key: str | None
    metadata: dict[str, str]
    session_id: str | None = Field(None, alias="sessionId", description="Web chat: the turn's session.")


class DeletedResponse(ClosedOut):
    """`DELETE /chat/responses/{id}`'s answer."""

    id: str
    object: Literal["response"]
    deleted: bool


class InputItemList(ClosedOut):
    """`GET /chat/responses/{id}/input_items`: the response's input items, a page at a time."""

    object: Literal["list"]
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class ResponseStreamEvent(ClosedOut):
    """The `data` of one OpenAI Responses stream event; which fields are present depends on `type`."""

    type: str
    sequence_number: int
    response: OpenAIResponse | None = None
    output_index: int | None = None
    content_index: int | None = None
    item_id: str | None = None
    item: OutputItem | None = None
    part: OutputText | None = None
    delta: str | None = None
    text: str | None = None
    arguments: str | None = None
    logprobs: list[Any] | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None
