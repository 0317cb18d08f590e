"""Squad DTOs: `CreateSquadDTO`, `UpdateSquadDTO` and their `SquadMemberDTO`s."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from chatloom.api.schemas.assistant import AssistantIn
from chatloom.api.schemas.common import NonEmptyStr, Open
from chatloom.api.schemas.handoff import MAX_DESTINATIONS, HandoffDestinationAssistantIn

MAX_MEMBERS = 50


class SquadMemberIn(Open):
    """One assistant of the squad: a stored one (`assistantId`) or an inline `assistant`."""

    assistant_id: NonEmptyStr | None = Field(None, alias="assistantId")
    assistant: AssistantIn | None = None
    assistant_overrides: dict[str, Any] | None = Field(None, alias="assistantOverrides")
    assistant_destinations: (
        Annotated[list[HandoffDestinationAssistantIn], Field(max_length=MAX_DESTINATIONS)] | None
    ) = Field(None, alias="assistantDestinations")

    @model_validator(mode="after")
    def _one_assistant(self) -> SquadMemberIn:
        if (self.assistant_id is None) == (self.assistant is None):
            raise ValueError("give exactly one of assistantId or assistant")
        if self.assistant is not None and self.assistant.model is None:
            raise ValueError("assistant.model is required for an inline assistant")
        return self


class SquadIn(Open):
    """The body of `POST /squad`, and an inline `squad` of a chat or session."""

    name: Annotated[str, Field(max_length=200)] | None = None
    members: Annotated[list[SquadMemberIn], Field(min_length=1, max_length=MAX_MEMBERS)]
    members_overrides: dict[str, Any] | None = Field(None, alias="membersOverrides")


class SquadPatch(Open):
    """`PATCH /squad/{id}`: the given top-level fields replace the stored ones."""

    name: Annotated[str, Field(max_length=200)] | None = None
    members: Annotated[list[SquadMemberIn], Field(min_length=1, max_length=MAX_MEMBERS)] | None = None
    members_overrides: dict[str, Any] | None = Field(None, alias="membersOverrides")

    @field_validator("members", mode="before")
    @classmethod
    def _members_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("a squad needs its members: give a non-empty array, or leave the field out")
        return value
