"""`ModelOptions` in the OpenAI chat completions dialect, and the reasoning text OpenAI-compatible vendors
send back (`reasoning_content`, as DeepSeek and vLLM do, or `reasoning`, as OpenRouter does).

Only what the caller set is sent: a request without options adds nothing to the body.
"""

from __future__ import annotations

from typing import Any

from chatloom.domain.model_options import (
    NO_OPTIONS,
    JsonObjectFormat,
    JsonSchemaFormat,
    ModelOptions,
    ToolChoice,
)
from chatloom.providers.base import ModelRequest


def add_options(body: dict[str, Any], request: ModelRequest) -> None:
    """Renders `request.options` into `body` (a no-op for `NO_OPTIONS`)."""
    options = request.options
    if options is NO_OPTIONS:
        return
    if request.tools:  # OpenAI refuses a tool choice without tools; with none offered there is no choice
        if not options.tool_choice.is_default:
            body["tool_choice"] = tool_choice(options.tool_choice)
        if options.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = options.parallel_tool_calls
    if options.output_format is not None:
        body["response_format"] = response_format(options)
    if options.reasoning is not None and options.reasoning.effort is not None:
        body["reasoning_effort"] = options.reasoning.effort
    if options.user is not None:
        body["safety_identifier"] = options.user
    if options.prompt_cache_key is not None:
        body["prompt_cache_key"] = options.prompt_cache_key
    if options.top_p is not None:
        body["top_p"] = options.top_p


def tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    """ "auto" | "none" | "required", one named function, or OpenAI's `allowed_tools` subset."""
    if choice.name is not None:
        return {"type": "function", "function": {"name": choice.name}}
    if choice.allowed:
        tools = [{"type": "function", "function": {"name": name}} for name in choice.allowed]
        mode = "required" if choice.mode == "required" else "auto"
        return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}}
    return choice.mode


def response_format(options: ModelOptions) -> dict[str, Any]:
    output = options.output_format
    if isinstance(output, JsonSchemaFormat):
        schema: dict[str, Any] = {"name": output.name, "schema": output.schema, "strict": output.strict}
        if output.description is not None:
            schema["description"] = output.description
        return {"type": "json_schema", "json_schema": schema}
    assert isinstance(output, JsonObjectFormat)
    return {"type": "json_object"}


def reasoning_text(message: dict[str, Any]) -> str | None:
    """A message's (or a delta's) reasoning: `reasoning_content`, else `reasoning`, if a non-empty string."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None
