"""`POST /chat/responses` request: Vapi's `OpenAIResponsesRequest` plus every field of OpenAI's
`ResponseCreateParams`, each honoured or refused with a 400 naming it (never accepted and dropped).

The OpenAI SDK merges `extra_body` into the top level, so Vapi's fields (`assistantId`, `sessionId`, ...)
arrive beside OpenAI's. A request that names no assistant (no `assistantId`, `assistant`, squad, session or
previous response) is answered by `model` directly, with `instructions` as its system prompt.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from chatloom.api.schemas.chat import ChatTurnFields
from chatloom.api.schemas.common import MESSAGE_CONTENT_LIMIT, NonEmptyStr
from chatloom.api.schemas.response_options import (
    MAX_CALLER_TOOLS,
    FunctionToolIn,
    ReasoningIn,
    StreamOptionsIn,
    TextIn,
    ToolChoiceIn,
    checked_include,
    tool_choice_of,
)
from chatloom.domain.model_options import NO_OPTIONS, ModelOptions

MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=512)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)]
"""OpenAI's `metadata`: at most 16 pairs, keys up to 64 characters, values up to 512."""
EndUserId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
NOT_SUPPORTED = (
    "access_programs",
    "background_options",
    "context_management",
    "image",
    "max_tool_calls",
    "moderation",
    "prompt",
    "prompt_cache_options",
    "prompt_cache_retention",
)
"""OpenAI request fields for OpenAI-only features: refused (400 naming the field) unless null."""


class ConversationRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: NonEmptyStr


class ResponsesRequestIn(ChatTurnFields):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    needs_assistant: ClassVar[bool] = False

    input: (
        Annotated[str, StringConstraints(min_length=1, max_length=MESSAGE_CONTENT_LIMIT)]
        | list[dict[str, Any]]
    )
    stream: StrictBool | None = Field(
        None,
        description="Absent: a stream unless the request's `Accept` prefers `application/json` (the OpenAI "
        "SDKs send it), as Vapi's spec makes `stream` default to true.",
    )
    background: StrictBool = False
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    instructions: Annotated[str, StringConstraints(max_length=MESSAGE_CONTENT_LIMIT)] | None = None
    previous_response_id: NonEmptyStr | None = None
    metadata: Metadata | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    conversation: NonEmptyStr | ConversationRef | None = None
    tools: Annotated[list[FunctionToolIn], Field(max_length=MAX_CALLER_TOOLS)] | None = None
    tool_choice: ToolChoiceIn | None = None
    parallel_tool_calls: StrictBool | None = None
    text: TextIn | None = None
    reasoning: ReasoningIn | None = None
    include: Annotated[list[str], Field(max_length=16)] | None = None
    store: StrictBool = True
    prompt_cache_key: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    safety_identifier: EndUserId | None = None
    user: EndUserId | None = None
    service_tier: Literal["auto", "default"] | None = None
    stream_options: StreamOptionsIn | None = None
    top_logprobs: Literal[0] | None = None
    access_programs: SkipJsonSchema[Any] = None
    background_options: SkipJsonSchema[Any] = None
    context_management: SkipJsonSchema[Any] = None
    image: SkipJsonSchema[Any] = None
    max_tool_calls: SkipJsonSchema[Any] = None
    moderation: SkipJsonSchema[Any] = None
    prompt: SkipJsonSchema[Any] = None
    prompt_cache_options: SkipJsonSchema[Any] = None
    prompt_cache_retention: SkipJsonSchema[Any] = None

    @field_validator(*NOT_SUPPORTED)
    @classmethod
    def _not_supported(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("not supported by this server (an OpenAI-only feature)")
        return value

    @field_validator("tools", mode="before")
    @classmethod
    def _function_tools(cls, value: Any) -> Any:
        for index, tool in enumerate(value if isinstance(value, list) else []):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind != "function":
                raise ValueError(
                    f"tools[{index}].type: '{kind}' tools are not supported (only function tools are)"
                )
        return value

    @field_validator("include")
    @classmethod
    def _include(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else checked_include(value)

    @model_validator(mode="before")
    @classmethod
    def _previous_response_is_previous_chat(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("previous_response_id") is not None:
            previous = data.get("previousChatId")
            if previous is not None and previous != data["previous_response_id"]:
                raise ValueError("previous_response_id and previousChatId name different chats")
            data = {**data, "previousChatId": data["previous_response_id"]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ResponsesRequestIn:
        if isinstance(self.input, list) and not self.input:
            raise ValueError("input must not be an empty array")
        if self.conversation is not None and (
            self.previous_chat_id is not None or self.session_id is not None
        ):
            raise ValueError("conversation: cannot be combined with previous_response_id or sessionId")
        return self

    @property
    def conversation_id(self) -> str | None:
        conversation = self.conversation
        return conversation.id if isinstance(conversation, ConversationRef) else conversation

    def options(self) -> ModelOptions:
        output_format = self.text.format.output_format() if self.text and self.text.format else None
        reasoning = self.reasoning.reasoning() if self.reasoning else None
        options = ModelOptions(
            tool_choice=tool_choice_of(self.tool_choice),
            parallel_tool_calls=self.parallel_tool_calls,
            output_format=output_format,
            reasoning=reasoning,
            user=self.safety_identifier or self.user,
            prompt_cache_key=self.prompt_cache_key,
            top_p=self.top_p,
        )
        return NO_OPTIONS if options == NO_OPTIONS else options
