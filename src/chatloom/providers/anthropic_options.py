"""`ModelOptions` in Anthropic Messages terms.

- tool choice: {"type": "auto" | "none" | "any"} or {"type": "tool", "name": ...}; parallel calls turned off
  add `disable_parallel_tool_use: true` to it. `allowed` tools: only those are sent (Anthropic has no
  separate allow-list).
- JSON by schema: Anthropic's structured outputs, `output_config.format` {"type": "json_schema", "schema"}.
  That is the generally available form, without a beta header; the beta's `output_format` with
  `anthropic-beta: structured-outputs-2025-11-13` is deprecated and only kept for a transition.
  JSON mode without a schema has no Anthropic counterpart: refused.
- reasoning effort: extended thinking with the budget in `THINKING_BUDGETS` ("none": no thinking, even when
  the assistant sets a budget). Anthropic forbids forcing a tool while thinking: refused.
- end user: `metadata.user_id`; `top_p` as given.
- `prompt_cache_key` is accepted and not sent: Anthropic caches by prompt prefix (`cache_control`), so the
  routing hint OpenAI uses it for has nothing to do here.
"""

from __future__ import annotations

from typing import Any

from chatloom.domain.model_options import (
    NO_OPTIONS,
    JsonObjectFormat,
    JsonSchemaFormat,
    ModelOptions,
    Unsupported,
)

THINKING_BUDGETS = {
    "minimal": 1024,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32768,
    "max": 65536,
}
"""Reasoning effort as Anthropic's `thinking.budget_tokens` (1024 is Anthropic's least budget)."""


def thinking_budget(options: ModelOptions, configured: int | None) -> int | None:
    """The thinking budget for a call: the effort's when one is asked for, else the configured one."""
    if options is NO_OPTIONS or options.reasoning is None or options.reasoning.effort is None:
        return configured
    return THINKING_BUDGETS.get(options.reasoning.effort)


def add_options(body: dict[str, Any], options: ModelOptions) -> None:
    """Renders `options` into a Messages body that already has its tools and thinking."""
    if options is NO_OPTIONS:
        return
    if "tools" in body:
        add_tool_choice(body, options)
    output = options.output_format
    if isinstance(output, JsonSchemaFormat):
        body["output_config"] = {"format": {"type": "json_schema", "schema": output.schema}}
    elif isinstance(output, JsonObjectFormat):
        raise Unsupported("anthropic", "text.format", "json_object")
    if options.user is not None:
        body["metadata"] = {"user_id": options.user}
    if options.top_p is not None:
        body["top_p"] = options.top_p
    # options.prompt_cache_key: not sent, see the module docstring.


def add_tool_choice(body: dict[str, Any], options: ModelOptions) -> None:
    choice = options.tool_choice
    if choice.allowed:
        allowed = set(choice.allowed)
        body["tools"] = [tool for tool in body["tools"] if tool.get("name") in allowed]
    if choice.name is not None:
        wire: dict[str, Any] = {"type": "tool", "name": choice.name}
    else:
        wire = {"type": {"auto": "auto", "none": "none", "required": "any"}[choice.mode]}
    if wire["type"] in ("tool", "any") and "thinking" in body:
        raise Unsupported("anthropic", "tool_choice", "forcing a tool call while thinking")
    if options.parallel_tool_calls is False and wire["type"] != "none":
        wire["disable_parallel_tool_use"] = True
    if wire != {"type": "auto"}:
        body["tool_choice"] = wire
