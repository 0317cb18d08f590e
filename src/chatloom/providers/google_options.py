"""`ModelOptions` in Gemini terms.

- tool choice: `toolConfig.functionCallingConfig` with mode AUTO | NONE | ANY; a named function is ANY with
  `allowedFunctionNames` [name]; `allowed` tools are `allowedFunctionNames` under ANY when a call is
  required, else (Gemini takes the names only with ANY) only the allowed declarations are sent.
- Gemini has no switch for parallel function calls: turning them off is refused.
- JSON by schema: `responseMimeType` "application/json" with `responseJsonSchema`; JSON mode: the mime
  type alone.
- reasoning effort: `thinkingConfig.thinkingBudget` from `THINKING_BUDGETS` ("none": 0, thinking off);
  a summary asked for: `includeThoughts`. `top_p`: `topP`.
- end user and prompt cache key are not sent: Gemini's API has no end-user field, and it caches implicitly
  by prefix (explicit caches are `cachedContents` resources, not a per-request key).
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
    "none": 0,
    "minimal": 128,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}
"""Reasoning effort as Gemini's `thinkingBudget` in tokens (24576 is Gemini 2.5 Flash's most, 32768 Pro's)."""


def add_generation_options(config: dict[str, Any], options: ModelOptions) -> None:
    """Renders the output format, reasoning and sampling options into `generationConfig`."""
    if options is NO_OPTIONS:
        return
    output = options.output_format
    if isinstance(output, (JsonSchemaFormat, JsonObjectFormat)):
        config["responseMimeType"] = "application/json"
    if isinstance(output, JsonSchemaFormat):
        config["responseJsonSchema"] = output.schema
    reasoning = options.reasoning
    if reasoning is not None:
        thinking: dict[str, Any] = dict(config.get("thinkingConfig") or {})
        if reasoning.effort is not None and reasoning.effort in THINKING_BUDGETS:
            thinking["thinkingBudget"] = THINKING_BUDGETS[reasoning.effort]
        if reasoning.summary is not None and thinking.get("thinkingBudget") != 0:
            thinking["includeThoughts"] = True
        if thinking:
            config["thinkingConfig"] = thinking
    if options.top_p is not None:
        config["topP"] = options.top_p
    # options.user and options.prompt_cache_key: not sent, see the module docstring.


def add_tool_options(body: dict[str, Any], declarations: list[dict[str, Any]], options: ModelOptions) -> None:
    """Renders the tool choice into `toolConfig` (filtering `declarations` in place for allowed tools)."""
    if options is NO_OPTIONS or not declarations:
        return
    if options.parallel_tool_calls is False:
        raise Unsupported("google", "parallel_tool_calls", "turning parallel calls off")
    choice = options.tool_choice
    if choice.is_default:
        return
    calling: dict[str, Any]
    if choice.name is not None:
        calling = {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    elif choice.allowed and choice.mode == "required":
        calling = {"mode": "ANY", "allowedFunctionNames": list(choice.allowed)}
    else:
        if choice.allowed:
            allowed = set(choice.allowed)
            declarations[:] = [d for d in declarations if d.get("name") in allowed]
        calling = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice.mode]}
    body["toolConfig"] = {"functionCallingConfig": calling}
