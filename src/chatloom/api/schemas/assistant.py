"""Assistant DTOs (`CreateAssistantDTO`, `UpdateAssistantDTO`): what chats use is validated, the rest
(voice-only settings) is kept as given so a Vapi assistant imports unchanged."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from chatloom.api.schemas.common import Name40, NonEmptyStr, Open, UrlStr
from chatloom.api.schemas.model_fields import PromptMessage, ProviderName
from chatloom.api.schemas.structured_output import ArtifactPlanIn


class ServerSettings(Open):
    url: UrlStr | None = None
    headers: dict[str, str] | None = None
    timeout_seconds: Annotated[float, Field(ge=1, le=300)] | None = Field(None, alias="timeoutSeconds")
    secret: str | None = None


class KnowledgeBaseIn(Open):
    """A knowledge base (`CreateCustomKnowledgeBaseDTO`, or a query tool's `KnowledgeBase`): only custom
    ones, answered by a `server`, can be used; ones built from uploaded files are refused, not ignored."""

    provider: NonEmptyStr
    name: str | None = None
    description: str | None = None
    server: ServerSettings | None = None
    file_ids: list[str] | None = Field(None, alias="fileIds")

    @model_validator(mode="after")
    def _custom_with_server(self) -> KnowledgeBaseIn:
        if self.file_ids is not None or self.provider != "custom-knowledge-base":
            raise ValueError(
                "knowledge bases built from uploaded files (`fileIds`, provider "
                f"'{self.provider}') are not supported yet; use provider 'custom-knowledge-base' "
                "with a `server`"
            )
        if self.server is None or self.server.url is None:
            raise ValueError("a custom knowledge base needs `server.url`, where its requests are sent")
        return self


class ContextManagementIn(Open):
    """chatloom's `model.contextManagement`: what a turn does when the conversation outgrows the window."""

    strategy: Literal["truncate", "summarize", "disabled"] = "truncate"
    summary_model: NonEmptyStr | None = Field(None, alias="summaryModel")


class ModelSettings(Open):
    provider: ProviderName
    model: NonEmptyStr
    messages: list[PromptMessage] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=100_000)] | None = Field(None, alias="maxTokens")
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = Field(
        None, alias="reasoningEffort"
    )
    prompt_cache_key: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, alias="promptCacheKey"
    )
    tools: list[dict[str, Any]] | None = None
    tool_ids: list[NonEmptyStr] | None = Field(None, alias="toolIds")
    fallback_models: list[NonEmptyStr] | None = Field(None, alias="fallbackModels")
    url: UrlStr | None = None
    headers: dict[str, str] | None = None
    timeout_seconds: Annotated[float, Field(ge=0, le=300)] | None = Field(None, alias="timeoutSeconds")
    knowledge_base: KnowledgeBaseIn | None = Field(None, alias="knowledgeBase")
    context_window_tokens: Annotated[int, Field(ge=64, le=100_000_000)] | None = Field(
        None, alias="contextWindowTokens"
    )
    context_management: ContextManagementIn | None = Field(None, alias="contextManagement")

    @model_validator(mode="after")
    def _custom_llm_needs_url(self) -> ModelSettings:
        if self.provider == "custom-llm" and self.url is None:
            raise ValueError("a custom-llm model needs `url`, the base URL of an OpenAI-compatible server")
        return self


class InlineCredential(Open):
    """One of `credentials`: a Vapi credential object, stored sealed and shown with its secrets masked."""

    provider: NonEmptyStr


class AssistantIn(Open):
    """The body of `POST /assistant`, and an inline `assistant` of a chat."""

    name: Name40 | None = None
    model: ModelSettings | None = None
    first_message: str | None = Field(None, alias="firstMessage")
    metadata: dict[str, Any] | None = None
    server: ServerSettings | None = None
    server_messages: list[str] | None = Field(None, alias="serverMessages")
    credentials: Annotated[list[InlineCredential], Field(max_length=100)] | None = None
    credential_ids: Annotated[list[NonEmptyStr], Field(max_length=100)] | None = Field(
        None, alias="credentialIds"
    )
    artifact_plan: ArtifactPlanIn | None = Field(None, alias="artifactPlan")
    analysis_plan: Any = Field(None, alias="analysisPlan")

    @field_validator("analysis_plan")
    @classmethod
    def _no_analysis_plan(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError(
                "not supported for chat assistants: define structured outputs "
                "(POST /structured-output) and list them in artifactPlan.structuredOutputIds"
            )
        return value


class AssistantPatch(AssistantIn):
    """`PATCH /assistant/{id}`: the given top-level fields replace the stored ones."""
