"""Hand-off DTOs: `HandoffDestinationAssistant`, `HandoffDestinationDynamic`, the
`ContextEngineeringPlan*` variants, and `CreateHandoffToolDTO` (a `handoff` tool)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from chatloom.api.schemas.assistant import AssistantIn, ServerSettings
from chatloom.api.schemas.common import NonEmptyStr, Open

MAX_DESTINATIONS = 50


class ContextEngineeringPlanIn(Open):
    """Which messages of the conversation the destination assistant is given."""

    type: Literal["all", "lastNMessages", "userAndAssistantMessages", "previousAssistantMessages", "none"]
    max_messages: Annotated[int, Field(ge=0, le=100_000)] | None = Field(None, alias="maxMessages")

    @model_validator(mode="after")
    def _last_n_needs_a_count(self) -> ContextEngineeringPlanIn:
        if self.type == "lastNMessages" and self.max_messages is None:
            raise ValueError("maxMessages is required for a lastNMessages plan")
        return self


class HandoffDestinationAssistantIn(Open):
    """A hand-off to an assistant: a squad member by `assistantName`, a stored one by `assistantId`, or
    an inline `assistant`."""

    type: Literal["assistant"]
    assistant_name: NonEmptyStr | None = Field(None, alias="assistantName")
    assistant_id: NonEmptyStr | None = Field(None, alias="assistantId")
    assistant: AssistantIn | None = None
    assistant_overrides: dict[str, Any] | None = Field(None, alias="assistantOverrides")
    description: str | None = None
    context_engineering_plan: ContextEngineeringPlanIn | None = Field(None, alias="contextEngineeringPlan")
    variable_extraction_plan: dict[str, Any] | None = Field(None, alias="variableExtractionPlan")

    @model_validator(mode="after")
    def _one_assistant(self) -> HandoffDestinationAssistantIn:
        given = [x for x in (self.assistant_name, self.assistant_id, self.assistant) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of assistantName, assistantId or assistant")
        if self.assistant is not None and self.assistant.model is None:
            raise ValueError("assistant.model is required for an inline assistant")
        return self


class HandoffDestinationDynamicIn(Open):
    """A hand-off whose destination the server at `server.url` names when asked
    (`handoff-destination-request`)."""

    type: Literal["dynamic"]
    server: ServerSettings | None = None
    description: str | None = None


HandoffDestinationIn = Annotated[
    HandoffDestinationAssistantIn | HandoffDestinationDynamicIn, Field(discriminator="type")
]


class HandoffFunctionIn(Open):
    """The function the model is offered; chatloom builds the parts left out."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")] | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None


class HandoffToolIn(Open):
    """A handoff tool: the model calls it to hand the conversation to one of `destinations`."""

    type: Literal["handoff"]
    destinations: Annotated[list[HandoffDestinationIn], Field(max_length=MAX_DESTINATIONS)] | None = None
    function: HandoffFunctionIn | None = None
    default_result: str | None = Field(None, alias="defaultResult")
    server: ServerSettings | None = None
    messages: list[dict[str, Any]] | None = None
