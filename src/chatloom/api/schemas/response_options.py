"""The parts of an OpenAI Responses request that shape the model calls: caller-defined function `tools`,
`tool_choice`, `text` (structured output), `reasoning` and `include`, parsed once into the engine's
provider-neutral values (`domain/model_options.py`). Anything OpenAI defines that chatloom does not do is a
400 naming it (hosted tool types, `text.verbosity`, `include` values for hosted tools)."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from chatloom.api.schemas.common import Strict
from chatloom.domain.model_options import (
    JsonObjectFormat,
    JsonSchemaFormat,
    OutputFormat,
    Reasoning,
    ToolChoice,
)
from chatloom.engine.calls.toolbox import CALLER_FUNCTION

ToolName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
MAX_CALLER_TOOLS = 128
MAX_SCHEMA_BYTES = 64 * 1024
INCLUDE_VALUES = frozenset(("reasoning.encrypted_content", "message.input_image.image_url"))
"""`include` values that apply to a chat server; the others name OpenAI's hosted tools (400)."""


def checked_schema(schema: dict[str, Any], what: str) -> dict[str, Any]:
    """A JSON Schema the server will use: a valid 2020-12 schema of bounded size. Checking a schema
    against the metaschema costs about 2 ms, and clients (agent frameworks) send the same tools with every
    request, so the verdict is kept per distinct schema (`SCHEMA_VERDICTS` of them)."""
    try:
        encoded = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as error:
        raise ValueError(f"{what} is not JSON: {error}") from None
    if len(encoded) > MAX_SCHEMA_BYTES:
        raise ValueError(f"{what} is larger than {MAX_SCHEMA_BYTES} bytes")
    problem = schema_problem(encoded)
    if problem is not None:
        raise ValueError(f"{what} is not a valid JSON Schema: {problem}")
    return schema


SCHEMA_VERDICTS = 1024


@functools.lru_cache(maxsize=SCHEMA_VERDICTS)
def schema_problem(encoded: bytes) -> str | None:
    """What makes the (JSON-encoded) schema invalid against the 2020-12 metaschema, or None."""
    try:
        Draft202012Validator.check_schema(orjson.loads(encoded))
    except SchemaError as error:
        return str(error.message)
    return None


class FunctionToolIn(Strict):
    """A function the caller defines and runs itself (OpenAI's flat `FunctionToolParam`)."""

    type: Literal["function"]
    name: ToolName
    description: Annotated[str, StringConstraints(max_length=4096)] | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else checked_schema(value, "parameters")

    def as_vapi_tool(self) -> dict[str, Any]:
        """The same function as a Vapi function tool of the caller's (`toolbox.CALLER_FUNCTION`)."""
        function: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            function["description"] = self.description
        function["parameters"] = self.parameters if self.parameters is not None else {"type": "object"}
        if self.strict is not None:
            function["strict"] = self.strict
        return {"type": CALLER_FUNCTION, "function": function}


class NamedFunctionIn(Strict):
    type: Literal["function"]
    name: ToolName


class AllowedToolsIn(Strict):
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: Annotated[list[NamedFunctionIn], Field(min_length=1, max_length=MAX_CALLER_TOOLS)]


ToolChoiceIn = Literal["auto", "none", "required"] | NamedFunctionIn | AllowedToolsIn


def tool_choice_of(value: ToolChoiceIn | None) -> ToolChoice:
    if value is None:
        return ToolChoice()
    if isinstance(value, str):
        return ToolChoice(mode=value)
    if isinstance(value, NamedFunctionIn):
        return ToolChoice(mode="required", name=value.name)
    return ToolChoice(mode=value.mode, allowed=tuple(tool.name for tool in value.tools))


class TextFormatIn(Strict):
    type: Literal["text", "json_schema", "json_object"]
    name: ToolName | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: StrictBool | None = None
    description: Annotated[str, StringConstraints(max_length=4096)] | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _complete(self) -> TextFormatIn:
        if self.type == "json_schema":
            if self.name is None or self.schema_ is None:
                raise ValueError("a json_schema format needs name and schema")
            checked_schema(self.schema_, "schema")
        elif self.name is not None or self.schema_ is not None or self.strict is not None:
            raise ValueError(f"name, schema and strict apply only to a json_schema format, not {self.type}")
        return self

    def output_format(self) -> OutputFormat | None:
        if self.type == "text":
            return None
        if self.type == "json_object":
            return JsonObjectFormat()
        assert self.name is not None and self.schema_ is not None
        return JsonSchemaFormat(self.name, self.schema_, bool(self.strict), self.description)

    def echo(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class TextIn(Strict):
    format: TextFormatIn | None = None
    verbosity: None = Field(
        None, description="Not supported: answers are as long as the assistant's prompt asks."
    )


class ReasoningIn(Strict):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None
    """OpenAI's deprecated name of `summary`."""

    def reasoning(self) -> Reasoning | None:
        summary = self.summary or self.generate_summary
        if self.effort is None and summary is None:
            return None
        return Reasoning(effort=self.effort, summary=summary)

    def echo(self) -> dict[str, Any]:
        return {"effort": self.effort, "summary": self.summary or self.generate_summary}


class StreamOptionsIn(Strict):
    include_obfuscation: StrictBool | None = None
    """chatloom never adds OpenAI's `obfuscation` padding to delta events: false is what it does anyway."""


def checked_include(values: list[str] | None) -> list[str]:
    for index, value in enumerate(values or []):
        if value not in INCLUDE_VALUES:
            supported = ", ".join(sorted(INCLUDE_VALUES))
            raise ValueError(f"include[{index}]: '{value}' is not supported (supported: {supported})")
    return list(values or [])
