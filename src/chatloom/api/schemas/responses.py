"""`POST /chat/responses` request (`OpenAIResponsesRequest` plus the OpenAI fields clients send).

Unknown fields are accepted and ignored: the OpenAI SDK merges `extra_body` into the top level and
sends fields (`store`, `tools`, `text`, ...) that do not apply to an assistant-driven chat.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from chatloom.api.schemas.chat import ChatTurnFields
from chatloom.api.schemas.common import MESSAGE_CONTENT_LIMIT, NonEmptyStr


class ConversationRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: NonEmptyStr


class ResponsesRequestIn(ChatTurnFields):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    input: (
        Annotated[str, StringConstraints(min_length=1, max_length=MESSAGE_CONTENT_LIMIT)]
        | list[dict[str, Any]]
    )
    stream: StrictBool = True
    background: StrictBool = False
    model: str | None = None
    instructions: Annotated[str, StringConstraints(max_length=MESSAGE_CONTENT_LIMIT)] | None = None
    previous_response_id: NonEmptyStr | None = None
    metadata: dict[str, str] | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    conversation: NonEmptyStr | ConversationRef | None = None

    @property
    def conversation_id(self) -> str | None:
        conversation = self.conversation
        return conversation.id if isinstance(conversation, ConversationRef) else conversation

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
    def _input_not_empty(self) -> ResponsesRequestIn:
        if isinstance(self.input, list) and not self.input:
            raise ValueError("input must not be an empty array")
        return self
