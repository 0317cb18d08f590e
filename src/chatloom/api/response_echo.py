"""What a `Response` echoes of its request: `tools`, `tool_choice`, `parallel_tool_calls`, `text`,
`reasoning`, `store`, `conversation`, `prompt_cache_key`, `safety_identifier`, `user`, `top_p` — as the
request set them, else OpenAI's defaults (`DEFAULT_ECHO`)."""

from __future__ import annotations

from typing import Any

from chatloom.api.schemas.responses import ResponsesRequestIn

DEFAULT_ECHO: dict[str, Any] = {
    "parallel_tool_calls": True,
    "conversation": None,
    "prompt_cache_key": None,
    "reasoning": {"effort": None, "summary": None},
    "safety_identifier": None,
    "service_tier": "default",
    "store": True,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "user": None,
}


def echoed(body: ResponsesRequestIn) -> dict[str, Any]:
    """What a response echoes of `body` beyond the defaults."""
    echo: dict[str, Any] = {}
    if body.tools:
        echo["tools"] = [tool.model_dump(exclude_none=True) for tool in body.tools]
    if body.tool_choice is not None:
        choice = body.tool_choice
        echo["tool_choice"] = choice if isinstance(choice, str) else choice.model_dump()
    if body.parallel_tool_calls is not None:
        echo["parallel_tool_calls"] = body.parallel_tool_calls
    if body.text is not None and body.text.format is not None:
        echo["text"] = {"format": body.text.format.echo(), "verbosity": "medium"}
    if body.reasoning is not None:
        echo["reasoning"] = body.reasoning.echo()
    if not body.store:
        echo["store"] = False
    conversation = body.conversation_id
    if conversation is not None:
        echo["conversation"] = {"id": conversation}
    for name in ("prompt_cache_key", "safety_identifier", "user", "top_p"):
        value = getattr(body, name)
        if value is not None:
            echo[name] = value
    return echo
