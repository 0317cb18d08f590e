"""Structured output: a turn that asked for a JSON answer (`text.format` json_schema or json_object) ends
only with one. The providers are asked natively (their JSON modes); the final text is still checked here,
against the caller's schema with `jsonschema`, because not every model or OpenAI-compatible server
enforces it. An answer that does not validate fails the turn (`InvalidModelOutput`, a 502) rather than
handing the caller JSON its parser will reject."""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator

from chatloom.domain.errors import UpstreamError
from chatloom.domain.messages import Message, text_of
from chatloom.domain.model_options import JsonObjectFormat, OutputFormat

MAX_ERROR_CHARS = 300


class InvalidModelOutput(UpstreamError):
    """The model's final answer is not the JSON the request's `text.format` asked for (HTTP 502)."""


def check_answer(output_format: OutputFormat, output: list[Message]) -> None:
    """Raises `InvalidModelOutput` unless the turn's last message is an answer matching `output_format`.
    A turn that ends in calls left to the caller has no answer yet: nothing to check."""
    last = output[-1] if output else None
    if last is None or last.get("role") != "assistant" or last.get("tool_calls"):
        return
    text = text_of(last.get("content"))
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidModelOutput(f"text.format: the model's answer is not JSON: {text[:80]!r}") from None
    if isinstance(output_format, JsonObjectFormat):
        if not isinstance(value, dict):
            raise InvalidModelOutput("text.format: the model's answer is JSON but not an object")
        return
    error = next(iter(Draft202012Validator(output_format.schema).iter_errors(value)), None)
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(the whole answer)"
        raise InvalidModelOutput(
            f"text.format: the model's answer does not match schema '{output_format.name}' at {where}: "
            f"{error.message[:MAX_ERROR_CHARS]}"
        )
