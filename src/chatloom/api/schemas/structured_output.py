"""Structured-output DTOs (`CreateStructuredOutputDTO`, `UpdateStructuredOutputDTO`, `StructuredOutputRunDTO`)
and an assistant's `artifactPlan`.

Every field is honoured or refused: unknown fields are a 400, and so are the conditions and links that only
mean something for phone calls or workflows. A schema is checked against the 2020-12 metaschema within
size and depth limits; a regex is compiled with RE2 (`engine/artifacts/patterns.py`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StringConstraints, field_validator, model_validator

from chatloom.api.schemas.common import NonEmptyStr, Open, PagedListParams, Strict
from chatloom.api.schemas.model_fields import PromptMessage, ProviderName
from chatloom.api.schemas.response_options import checked_schema
from chatloom.engine.artifacts.patterns import PatternError, compile_pattern

MAX_SCHEMA_DEPTH = 32
"""Deepest nesting of objects and arrays in a structured output's schema."""
MAX_DESCRIPTION_CHARS = 10_000
MAX_PROMPT_MESSAGES = 10
MAX_ASSISTANT_LINKS = 100
MAX_INLINE_OUTPUTS = 20
MAX_RUN_TARGETS = 100

CALL_ONLY_CONDITIONS = {
    "minCallDuration": "chat sessions have no call duration",
    "endedReason": "chat sessions have no call ended reason",
}
CONVERSATION_VARIABLE = re.compile(r"\{\{-?\s*(transcript|messages)\b")
DEFINITION_VARIABLE = re.compile(r"\{\{-?\s*structuredOutput\b")


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_SCHEMA_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(item, level + 1) for item in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(item, level + 1) for item in value), default=level)
    return level


def checked_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        raise ValueError(f"schema is nested deeper than {MAX_SCHEMA_DEPTH} levels")
    return checked_schema(schema, "schema")


class MinMessagesCondition(Strict):
    type: Literal["minMessages"]
    count: Annotated[int, Field(ge=0, le=100_000)]


def checked_conditions(value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """`minMessages` only: the call-only conditions are refused, naming the condition."""
    if value is None:
        return None
    checked = []
    for index, condition in enumerate(value):
        kind = condition.get("type") if isinstance(condition, dict) else None
        if kind in CALL_ONLY_CONDITIONS:
            raise ValueError(
                f"conditions[{index}]: '{kind}' only applies to calls ({CALL_ONLY_CONDITIONS[kind]}); "
                "chat structured outputs take 'minMessages'"
            )
        if kind != "minMessages":
            raise ValueError(f"conditions[{index}].type must be 'minMessages'")
        checked.append(MinMessagesCondition.model_validate(condition).model_dump())
    return checked


class ExtractionModel(Strict):
    """The model that extracts an output; without it, the assistant's own provider and model do."""

    provider: ProviderName
    model: NonEmptyStr
    messages: Annotated[list[PromptMessage], Field(max_length=MAX_PROMPT_MESSAGES)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(ge=50, le=10_000)] | None = Field(None, alias="maxTokens")

    @model_validator(mode="after")
    def _prompt_refers_to_the_conversation(self) -> ExtractionModel:
        if not self.messages:
            return self
        text = "\n".join(message.content or "" for message in self.messages)
        if not CONVERSATION_VARIABLE.search(text):
            raise ValueError("model.messages must use {{transcript}} or {{messages}} (the conversation)")
        if not DEFINITION_VARIABLE.search(text):
            raise ValueError(
                "model.messages must use {{structuredOutput}} or one of its fields "
                "(name, description, schema)"
            )
        return self


class ComplianceOverrideIn(Strict):
    force_store_on_hipaa_enabled: StrictBool | None = Field(None, alias="forceStoreOnHipaaEnabled")


class _OutputFields(Strict):
    type: Literal["ai", "regex"] | None = None
    regex: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    model: ExtractionModel | None = None
    compliance_plan: ComplianceOverrideIn | None = Field(None, alias="compliancePlan")
    conditions: list[dict[str, Any]] | None = None
    description: Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS)] | None = None
    assistant_ids: Annotated[list[NonEmptyStr], Field(max_length=MAX_ASSISTANT_LINKS)] | None = Field(
        None, alias="assistantIds"
    )
    workflow_ids: list[str] | None = Field(None, alias="workflowIds")

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return checked_conditions(value)

    @field_validator("workflow_ids")
    @classmethod
    def _no_workflows(cls, value: list[str] | None) -> list[str] | None:
        if value:
            raise ValueError("workflows are not part of chatloom: link outputs with assistantIds")
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_pattern(value)
            except PatternError as error:
                raise ValueError(str(error)) from None
        return value

    def _check_kind(self, kind: str) -> None:
        if kind == "regex" and self.regex is None:
            raise ValueError("a regex structured output needs `regex`")


class StructuredOutputIn(_OutputFields):
    """`POST /structured-output`, and an inline output of `artifactPlan.structuredOutputs`."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    schema_: dict[str, Any] = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        return checked_output_schema(value)

    @model_validator(mode="after")
    def _complete(self) -> StructuredOutputIn:
        self._check_kind(self.type or "ai")
        return self


class StructuredOutputPatch(_OutputFields):
    """`PATCH /structured-output/{id}`: the given fields replace the stored ones (`conditions: null` clears
    the gate). A new schema of another top-level type needs `?schemaOverride=true`."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return checked_output_schema(value) if value is not None else None


class ListStructuredOutputsParams(PagedListParams):
    id: NonEmptyStr | None = None
    name: NonEmptyStr | None = None
    sort_by: Literal["createdAt", "updatedAt"] | None = Field(None, alias="sortBy")


class StructuredOutputRunIn(Strict):
    """`POST /structured-output/run`: a saved or transient output, run over sessions or chats (chatloom's
    `sessionIds` and `chatIds`; Vapi's `callIds` name calls, which chatloom has none of)."""

    preview_enabled: StrictBool = Field(False, alias="previewEnabled")
    structured_output_id: NonEmptyStr | None = Field(None, alias="structuredOutputId")
    structured_output: StructuredOutputIn | None = Field(None, alias="structuredOutput")
    session_ids: Annotated[list[NonEmptyStr], Field(max_length=MAX_RUN_TARGETS)] | None = Field(
        None, alias="sessionIds"
    )
    chat_ids: Annotated[list[NonEmptyStr], Field(max_length=MAX_RUN_TARGETS)] | None = Field(
        None, alias="chatIds"
    )
    call_ids: list[str] | None = Field(None, alias="callIds")

    @field_validator("call_ids")
    @classmethod
    def _no_calls(cls, value: list[str] | None) -> list[str] | None:
        if value:
            raise ValueError("chatloom has no calls: run structured outputs on sessionIds or chatIds")
        return value

    @model_validator(mode="after")
    def _one_output_some_targets(self) -> StructuredOutputRunIn:
        if (self.structured_output_id is None) == (self.structured_output is None):
            raise ValueError("one of structuredOutputId or structuredOutput is required")
        targets = len(self.session_ids or ()) + len(self.chat_ids or ())
        if targets == 0:
            raise ValueError("sessionIds or chatIds: at least one session or chat to run on")
        if self.preview_enabled and targets != 1:
            raise ValueError("a preview (previewEnabled) runs on exactly one session or chat")
        if not self.preview_enabled and self.chat_ids:
            raise ValueError(
                "chatIds: a chat has no artifact to save a result in; preview it (previewEnabled: true) "
                "or run it on the chat's session"
            )
        return self


class ArtifactPlanIn(Open):
    """An assistant's `artifactPlan`. For chat sessions only the structured outputs are used; the call
    settings (recording, logging, transcript plan, ...) are kept as given, so a Vapi assistant imports
    unchanged, and documented as call-only. Scorecards are refused: chatloom does not evaluate them."""

    structured_output_ids: Annotated[list[NonEmptyStr], Field(max_length=MAX_ASSISTANT_LINKS)] | None = Field(
        None, alias="structuredOutputIds"
    )
    structured_outputs: Annotated[list[StructuredOutputIn], Field(max_length=MAX_INLINE_OUTPUTS)] | None = (
        Field(None, alias="structuredOutputs")
    )
    scorecard_ids: list[str] | None = Field(None, alias="scorecardIds")
    scorecards: list[Any] | None = None

    @model_validator(mode="after")
    def _no_scorecards(self) -> ArtifactPlanIn:
        if self.scorecard_ids or self.scorecards:
            raise ValueError("scorecards (scorecardIds, scorecards) are not supported")
        return self
