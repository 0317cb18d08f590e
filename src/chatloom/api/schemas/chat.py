"""Chat DTOs: `CreateChatDTO` (POST /chat) and the `GET /chat` query."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StrictBool, StringConstraints, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from chatloom.api.schemas.assistant import AssistantIn
from chatloom.api.schemas.common import (
    MESSAGE_CONTENT_LIMIT,
    ChatMessageIn,
    Name40,
    NonEmptyStr,
    Open,
    PagedListParams,
    Strict,
)
from chatloom.api.schemas.squad import SquadIn


class AssistantOverridesIn(Open):
    variable_values: dict[str, Any] | None = Field(None, alias="variableValues")


class ChatTurnFields(Strict):
    """The fields `/chat` and `/chat/responses` share. Fields wrapped in `SkipJsonSchema` are parsed (so
    they are refused with a message saying why) but not advertised in the OpenAPI document."""

    needs_assistant: ClassVar[bool] = True
    """False where `model` alone may answer (`/chat/responses`)."""

    assistant_id: NonEmptyStr | None = Field(None, alias="assistantId")
    assistant: AssistantIn | None = None
    assistant_overrides: AssistantOverridesIn | None = Field(None, alias="assistantOverrides")
    squad_id: NonEmptyStr | None = Field(None, alias="squadId")
    squad: SquadIn | None = None
    name: Name40 | None = None
    session_id: NonEmptyStr | None = Field(None, alias="sessionId")
    previous_chat_id: NonEmptyStr | None = Field(None, alias="previousChatId")
    transport: SkipJsonSchema[dict[str, Any] | None] = None

    @property
    def names_assistant(self) -> bool:
        """Whether the request says who answers: an assistant, a squad, a session or a chat it continues."""
        return any(
            value is not None
            for value in (
                self.assistant_id,
                self.assistant,
                self.squad_id,
                self.squad,
                self.session_id,
                self.previous_chat_id,
            )
        )

    @model_validator(mode="after")
    def _one_context(self) -> ChatTurnFields:
        if self.assistant_id is not None and self.assistant is not None:
            raise ValueError("assistantId and assistant are mutually exclusive")
        if (self.squad_id is not None or self.squad is not None) and (
            self.assistant_id is not None or self.assistant is not None or self.session_id is not None
        ):
            raise ValueError("squadId/squad and assistantId/assistant/sessionId are mutually exclusive")
        if self.squad_id is not None and self.squad is not None:
            raise ValueError("squadId and squad are mutually exclusive")
        if self.session_id is not None and self.previous_chat_id is not None:
            raise ValueError("sessionId and previousChatId are mutually exclusive")
        if self.session_id is not None and (self.assistant_id is not None or self.assistant is not None):
            raise ValueError(
                "sessionId and assistantId/assistant are mutually exclusive: a session has its assistant"
            )
        if self.session_id is not None and self.assistant_overrides is not None:
            raise ValueError(
                "assistantOverrides cannot change a session's assistant: set them when creating the session"
            )
        if self.needs_assistant and not self.names_assistant:
            raise ValueError(
                "one of assistantId, assistant, squadId, squad, sessionId or previousChatId is required"
            )
        if self.assistant is not None and self.assistant.model is None:
            raise ValueError("assistant.model is required for an inline assistant")
        return self


def input_not_empty(value: str | list[ChatMessageIn]) -> str | list[ChatMessageIn]:
    """A Vapi `input` array must hold a message (an empty string is refused by its constraint)."""
    if isinstance(value, list) and not value:
        raise ValueError("input must not be an empty array")
    return value


class CreateChatIn(ChatTurnFields):
    input: (
        Annotated[str, StringConstraints(min_length=1, max_length=MESSAGE_CONTENT_LIMIT)]
        | list[ChatMessageIn]
    )
    stream: StrictBool = False
    background: StrictBool = Field(
        False,
        description="chatloom extension: answer at once (202) and run the turn to completion whether or "
        "not anyone listens; follow it with `GET /chat/{id}/stream`, stop it with "
        "`POST /chat/responses/{id}/cancel`.",
    )

    _input_not_empty = field_validator("input")(input_not_empty)


class ListChatsParams(PagedListParams):
    id: str | None = None
    id_any: str | None = Field(None, alias="idAny")
    assistant_id: str | None = Field(None, alias="assistantId")
    assistant_id_any: str | None = Field(None, alias="assistantIdAny")
    squad_id: str | None = Field(None, alias="squadId")
    session_id: str | None = Field(None, alias="sessionId")
    previous_chat_id: str | None = Field(None, alias="previousChatId")
    workflow_id: str | None = Field(
        None,
        alias="workflowId",
        description="Chats of a workflow. This server runs no workflows, so no chat has one: any value "
        "matches no chat.",
    )
    sort_by: Literal["createdAt", "cost", "duration"] = Field("createdAt", alias="sortBy")
