"""What a caller may ask of one model call besides its messages: which tool it must (or must not) call,
whether it may call several at once, the shape of its final answer, and how hard it should reason.

These are provider-neutral values: the API parses them once from the wire (OpenAI's `tool_choice`,
`parallel_tool_calls`, `text.format`, `reasoning`), the engine carries them on the `ModelRequest`, and each
provider adapter renders them in its own wire format or refuses them (`Unsupported`, a 400 naming the
provider and the field).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from chatloom.domain.errors import InvalidRequest

ToolMode = Literal["auto", "none", "required"]
REASONING_EFFORTS: tuple[str, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """`mode` "auto" (the model decides), "none" (no tool), "required" (at least one); `name` set: that
    function and no other. `allowed`: only these of the offered tools may be called (OpenAI's
    `allowed_tools`)."""

    mode: ToolMode = "auto"
    name: str | None = None
    allowed: tuple[str, ...] = ()

    @property
    def is_default(self) -> bool:
        return self.mode == "auto" and self.name is None and not self.allowed


@dataclass(frozen=True, slots=True)
class JsonSchemaFormat:
    """The final answer must be JSON valid against `schema` (OpenAI's `text.format` json_schema)."""

    name: str
    schema: dict[str, Any]
    strict: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class JsonObjectFormat:
    """The final answer must be a JSON object (OpenAI's older JSON mode)."""


OutputFormat = JsonSchemaFormat | JsonObjectFormat


@dataclass(frozen=True, slots=True)
class Reasoning:
    """`effort`: one of `REASONING_EFFORTS`; `summary`: "auto" | "concise" | "detailed" (reasoning summaries
    returned as `reasoning` items where the provider gives them)."""

    effort: str | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """Everything of the above for one turn; the default asks for nothing."""

    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool | None = None
    output_format: OutputFormat | None = None
    reasoning: Reasoning | None = None
    user: str | None = None
    """A stable id of the end user (OpenAI's `safety_identifier` / `user`), passed on where providers take
    one."""
    prompt_cache_key: str | None = None
    top_p: float | None = None
    """Nucleus sampling, where the provider takes it."""


NO_OPTIONS = ModelOptions()


class Unsupported(InvalidRequest):
    """A provider cannot do what the request asks: a 400 naming the provider and the field."""

    def __init__(self, provider: str, field: str, what: str) -> None:
        super().__init__(f"{field}: {what} is not supported by provider '{provider}'", field=field)
