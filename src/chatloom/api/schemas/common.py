"""Shared DTO pieces: the base model (camelCase aliases), chat messages, list query parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

MESSAGE_CONTENT_LIMIT = 100_000
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
Name40 = Annotated[str, StringConstraints(max_length=40)]


def _http_url(value: str) -> str:
    HttpUrl(value)
    return value


UrlStr = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_http_url)]
"""An http(s) URL, validated but kept exactly as the client wrote it."""


class Strict(BaseModel):
    """Unknown fields are refused (as Vapi does: "property x should not exist")."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Open(BaseModel):
    """Unknown fields are kept, so documents exported from Vapi import unchanged."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ToolCallFunctionIn(Open):
    name: NonEmptyStr
    arguments: str | dict[str, Any] = "{}"


class ToolCallIn(Open):
    id: NonEmptyStr
    type: Literal["function"] = "function"
    function: ToolCallFunctionIn


class ChatMessageIn(Open):
    """One message of `input`. `message` is accepted as a synonym of `content` (Vapi transcripts)."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: (
        Annotated[str, StringConstraints(max_length=MESSAGE_CONTENT_LIMIT)]
        | Annotated[list[dict[str, Any]], Field(description="Content parts: text, image_url and file.")]
        | None
    ) = None
    message: Annotated[str, StringConstraints(max_length=MESSAGE_CONTENT_LIMIT)] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    name: Name40 | None = None

    @model_validator(mode="after")
    def _content_required(self) -> ChatMessageIn:
        if self.content is None and self.message is not None:
            self.content = self.message
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.role == "assistant":
            if self.content is None and not self.tool_calls:
                raise ValueError("an assistant message needs content or tool_calls")
        elif self.content is None:
            raise ValueError(f"a {self.role} message needs content")
        return self


def _whole_number(value: Any) -> Any:
    """Vapi's SDKs type `page` and `limit` as numbers, so `2.0` arrives as "2.0": accept whole values."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else value
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
MAX_PAGE = 1_000_000


def _storable_moment(value: datetime) -> datetime:
    """A moment every database can compare with: timezone-aware (UTC if none given), years 1 to 9999."""
    try:
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        raise ValueError("must be a date between the years 1 and 9999") from None
    if not 1 < moment.year < 9999:
        raise ValueError("must be a date between the years 1 and 9999")
    return moment


Moment = Annotated[datetime, AfterValidator(_storable_moment)]


class ListParams(BaseModel):
    """Query parameters shared by every list route. Unknown parameters are refused (as Vapi does), so a
    misspelt filter is never silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    limit: Annotated[WholeNumber, Field(ge=0, le=1000)] = 100
    created_at_gt: Moment | None = Field(None, alias="createdAtGt")
    created_at_lt: Moment | None = Field(None, alias="createdAtLt")
    created_at_ge: Moment | None = Field(None, alias="createdAtGe")
    created_at_le: Moment | None = Field(None, alias="createdAtLe")
    updated_at_gt: Moment | None = Field(None, alias="updatedAtGt")
    updated_at_lt: Moment | None = Field(None, alias="updatedAtLt")
    updated_at_ge: Moment | None = Field(None, alias="updatedAtGe")
    updated_at_le: Moment | None = Field(None, alias="updatedAtLe")


class PagedListParams(ListParams):
    page: Annotated[WholeNumber, Field(ge=1, le=MAX_PAGE)] = 1
    sort_order: Literal["ASC", "DESC"] = Field("DESC", alias="sortOrder")
