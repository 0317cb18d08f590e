"""Session DTOs: `CreateSessionDTO`, `UpdateSessionDTO` and the `GET /session` query."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from chatloom.api.schemas.assistant import AssistantIn
from chatloom.api.schemas.chat import AssistantOverridesIn
from chatloom.api.schemas.common import ChatMessageIn, Name40, NonEmptyStr, Open, PagedListParams, Strict
from chatloom.api.schemas.squad import SquadIn

ExpirationSeconds = Annotated[int, Field(ge=60, le=2_592_000)]


class CustomerIn(Open):
    number: str | None = None
    name: str | None = None
    email: str | None = None


class CreateSessionIn(Strict):
    """Fields wrapped in `SkipJsonSchema` are parsed (so they are refused with a message saying why) but
    not advertised in the OpenAPI document."""

    name: Name40 | None = None
    status: Literal["active", "completed"] = "active"
    expiration_seconds: ExpirationSeconds = Field(86_400, alias="expirationSeconds")
    assistant_id: NonEmptyStr | None = Field(None, alias="assistantId")
    assistant: AssistantIn | None = None
    assistant_overrides: AssistantOverridesIn | None = Field(None, alias="assistantOverrides")
    squad_id: NonEmptyStr | None = Field(None, alias="squadId")
    squad: SquadIn | None = None
    messages: list[ChatMessageIn] | None = None
    customer: CustomerIn | None = None
    customer_id: str | None = Field(None, alias="customerId")
    phone_number_id: SkipJsonSchema[str | None] = Field(None, alias="phoneNumberId")
    phone_number: SkipJsonSchema[dict[str, Any] | None] = Field(None, alias="phoneNumber")

    @model_validator(mode="after")
    def _one_assistant(self) -> CreateSessionIn:
        if self.assistant_id is not None and self.assistant is not None:
            raise ValueError("assistantId and assistant are mutually exclusive")
        squads = [x for x in (self.squad_id, self.squad) if x is not None]
        if squads and (self.assistant_id is not None or self.assistant is not None or len(squads) > 1):
            raise ValueError("one of assistantId, assistant, squadId or squad: they are mutually exclusive")
        if (
            self.squad_id is None
            and self.squad is None
            and self.assistant_id is None
            and self.assistant is None
        ):
            raise ValueError("one of assistantId, assistant, squadId or squad is required")
        if self.assistant is not None and self.assistant.model is None:
            raise ValueError("assistant.model is required for an inline assistant")
        return self


class UpdateSessionIn(Strict):
    name: Name40 | None = None
    status: Literal["active", "completed"] | None = None
    expiration_seconds: ExpirationSeconds | None = Field(None, alias="expirationSeconds")
    messages: list[ChatMessageIn] | None = None


TELEPHONY_FILTERS = (
    "workflowId",
    "numberE164CheckEnabled",
    "extension",
    "sipUri",
    "phoneNumberId",
    "phoneNumberIdAny",
    "assistantOverrides",
)
"""Vapi's session filters for phone and workflow sessions, which a chat server has none of."""


class ListSessionsParams(PagedListParams):
    id: str | None = None
    id_any: str | None = Field(None, alias="idAny")
    name: str | None = None
    assistant_id: str | None = Field(None, alias="assistantId")
    assistant_id_any: str | None = Field(None, alias="assistantIdAny")
    squad_id: str | None = Field(None, alias="squadId")
    customer_name: Annotated[str, Field(max_length=40)] | None = Field(None, alias="customerName")
    number: Annotated[str, Field(min_length=3, max_length=40)] | None = None
    email: Annotated[str, Field(max_length=40)] | None = None
    external_id: Annotated[str, Field(max_length=40)] | None = Field(None, alias="externalId")
    customer_number_any: str | None = Field(None, alias="customerNumberAny")
    sort_by: Literal["createdAt", "cost", "duration"] = Field("createdAt", alias="sortBy")

    @model_validator(mode="before")
    @classmethod
    def _no_telephony_filters(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in TELEPHONY_FILTERS:
                if name in data:
                    raise ValueError(
                        f"{name}: phone and workflow filters are not supported by this server (chat sessions "
                        "have no phone number, SIP address or workflow)"
                    )
        return data
