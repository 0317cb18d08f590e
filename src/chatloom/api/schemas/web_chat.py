"""Web chat DTOs: `CreateWebChatDTO` (POST /chat/web), `OpenAIWebChatRequest` (POST /chat/web/responses)
and `CreateWebCustomerDTO`. Web chat names its assistant by id and overrides only `variableValues`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictBool, StringConstraints, field_validator

from chatloom.api.schemas.chat import input_not_empty
from chatloom.api.schemas.common import MESSAGE_CONTENT_LIMIT, ChatMessageIn, NonEmptyStr, Strict

Short = Annotated[str, StringConstraints(max_length=320)]
IdentityHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
WebExpirationSeconds = Annotated[float, Field(ge=60, le=2_592_000)]


class WebCustomerIn(Strict):
    """The customer, which identifies a returning visitor's session (by externalId, number, email or
    sipUri, strongest first) when the caller vouches for it: a private key, or a public key with
    `identityHash` (a chatloom extension: HMAC-SHA256 of `<field>:<value>` with the key's identity secret,
    never stored)."""

    number: Short | None = None
    email: Short | None = None
    external_id: Short | None = Field(None, alias="externalId")
    name: Short | None = None
    sip_uri: Short | None = Field(None, alias="sipUri")
    extension: Short | None = None
    number_e164_check_enabled: StrictBool | None = Field(None, alias="numberE164CheckEnabled")
    assistant_overrides: dict[str, Any] | None = Field(None, alias="assistantOverrides")
    identity_hash: IdentityHash | None = Field(None, alias="identityHash")


class WebChatFields(Strict):
    """The fields `/chat/web` and `/chat/web/responses` share."""

    assistant_id: NonEmptyStr = Field(alias="assistantId")
    session_id: NonEmptyStr | None = Field(None, alias="sessionId")
    session_expiration_seconds: WebExpirationSeconds | None = Field(None, alias="sessionExpirationSeconds")
    assistant_overrides: dict[str, Any] | None = Field(None, alias="assistantOverrides")
    customer: WebCustomerIn | None = None
    session_end: StrictBool = Field(False, alias="sessionEnd")


class CreateWebChatIn(WebChatFields):
    input: (
        Annotated[str, StringConstraints(min_length=1, max_length=MESSAGE_CONTENT_LIMIT)]
        | list[ChatMessageIn]
    )
    stream: StrictBool = False

    _input_not_empty = field_validator("input")(input_not_empty)


class WebResponsesRequestIn(WebChatFields):
    """Vapi's `OpenAIWebChatRequest`, plus `model` (which the OpenAI SDKs always send: the assistant's model
    answers, and the response names it). The page cannot change the assistant, so every other field of
    OpenAI's request (tools, instructions, text.format, ...) is a 400 naming it (`extra="forbid"`)."""

    input: (
        Annotated[str, StringConstraints(min_length=1, max_length=MESSAGE_CONTENT_LIMIT)]
        | list[dict[str, Any]]
    )
    stream: StrictBool | None = Field(
        None,
        description="Absent: a stream unless the request's `Accept` prefers `application/json`, as on "
        "`/chat/responses`.",
    )
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="Accepted for OpenAI clients; the assistant's model answers."
    )

    @field_validator("input")
    @classmethod
    def _input_not_empty(cls, value: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        if isinstance(value, list) and not value:
            raise ValueError("input must not be an empty array")
        return value
