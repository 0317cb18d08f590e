"""The fake LLM's OpenAI chat completions dialect: `POST .../chat/completions`, JSON or SSE
`chat.completion.chunk` frames, with OpenAI's error envelopes (including its context-length refusal).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson

from chatloom.domain.messages import text_of
from chatloom.testing.fake_defaults import FakeAsk, unscripted_reply
from chatloom.testing.fake_dialect import FakeReply, chat_messages, split_evenly, word_count

OPENAI_ATTACHMENT_KINDS = {"image_url": "image", "input_image": "image", "file": "file", "input_file": "file"}

OPENAI_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class OpenAIChatDialect:
    """OpenAI chat completions: `POST .../chat/completions`, JSON or SSE `chat.completion.chunk` frames."""

    stream_terminator = b"data: [DONE]\n\n"

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def handles(self, path: str) -> bool:
        return path.endswith("/chat/completions")

    def wants_stream(self, path: str, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def default_reply(self, body: dict[str, Any]) -> FakeReply:
        return unscripted_reply(openai_ask(body))

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        kind, code = OPENAI_ERROR_KINDS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        text = message or f"The fake LLM was scripted to fail with HTTP {status}."
        return {"error": {"message": text, "type": kind, "param": None, "code": code}}

    def usage(self, body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
        """Scripted usage, completed with deterministic counts: 3 + words per message, words of the reply."""
        prompt_tokens = sum(
            3 + word_count(text_of(message.get("content"))) for message in chat_messages(body)
        )
        completion_tokens = word_count(reply.full_text) + sum(
            word_count(str(call.get("function", {}).get("arguments", ""))) for call in reply.tool_calls or ()
        )
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        usage.update(reply.usage or {})
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        return usage

    def _envelope(self, body: dict[str, Any], reply: FakeReply, kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": kind,
            "created": int(time.time()),
            "model": reply.model or body.get("model") or "fake-model",
            "system_fingerprint": "fp_fake",
        }

    def _finish_reason(self, reply: FakeReply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def completion(self, body: dict[str, Any], reply: FakeReply) -> bytes:
        text = reply.full_text
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if text or not reply.tool_calls else None,
            "refusal": None,
        }
        if reply.reasoning:
            message["reasoning_content"] = "\n\n".join(reply.reasoning)
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        payload = self._envelope(body, reply, "chat.completion")
        payload["choices"] = [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish_reason(reply)}
        ]
        payload["usage"] = self.usage(body, reply)
        return orjson.dumps(payload)

    def stream_frames(self, body: dict[str, Any], reply: FakeReply) -> tuple[list[bytes], list[bytes]]:
        envelope = self._envelope(body, reply, "chat.completion.chunk")
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True

        def frame(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            chunk = dict(envelope)
            chunk["choices"] = [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ]
            if include_usage:
                chunk["usage"] = None
            return b"data: " + orjson.dumps(chunk) + b"\n\n"

        pieces = reply.text_pieces
        first_content = "" if pieces or not reply.tool_calls else None
        opening = [frame({"role": "assistant", "content": first_content, "refusal": None})]
        frames = [frame({"reasoning_content": piece}) for piece in reasoning_pieces(reply)]
        frames += [frame({"content": piece}) for piece in pieces]
        for index, call in enumerate(reply.tool_calls or ()):
            function = call.get("function", {})
            named = {"name": function.get("name"), "arguments": ""}
            fragment = {"index": index, "id": call.get("id"), "type": "function", "function": named}
            frames.append(frame({"tool_calls": [fragment]}))
            for piece in split_evenly(str(function.get("arguments", "")), 3):
                frames.append(frame({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        frames.append(frame({}, self._finish_reason(reply)))
        if include_usage:
            usage_chunk = dict(envelope, choices=[], usage=self.usage(body, reply))
            frames.append(b"data: " + orjson.dumps(usage_chunk) + b"\n\n")
        return opening, frames


def context_length_error(limit: int, tokens: int) -> dict[str, Any]:
    """OpenAI's answer to a request over the model's context window."""
    message = (
        f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
        f"{tokens} tokens. Please reduce the length of the messages."
    )
    error = {"message": message, "type": "invalid_request_error", "param": "messages"}
    return {"error": {**error, "code": "context_length_exceeded"}}


def reasoning_pieces(reply: FakeReply) -> list[str]:
    """The scripted reasoning as streamed: each part, a blank line before all but the first."""
    return [("\n\n" if position else "") + part for position, part in enumerate(reply.reasoning)]


def openai_ask(body: dict[str, Any]) -> FakeAsk:
    """A chat completions request read for the default answer (`fake_defaults`)."""
    messages = chat_messages(body)
    ask = FakeAsk()
    ask.conversation_text = "\n".join(text_of(message.get("content")) for message in messages)
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        ask.tool_results.insert(0, text_of(message.get("content")))
    users = [message for message in messages if message.get("role") == "user"]
    if users:
        content = users[-1].get("content")
        ask.user_text = text_of(content)
        for part in content if isinstance(content, list) else ():
            kind = OPENAI_ATTACHMENT_KINDS.get(str(part.get("type"))) if isinstance(part, dict) else None
            if kind:
                ask.attachments[kind] = ask.attachments.get(kind, 0) + 1
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            ask.tools[function["name"]] = function.get("parameters")
    choice = body.get("tool_choice")
    if choice == "required":
        ask.forced_tool = ""
    elif choice == "none":
        ask.tools = {}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        ask.forced_tool = str((choice.get("function") or {}).get("name") or "")
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {(tool.get("function") or {}).get("name") for tool in allowed.get("tools") or ()}
        ask.tools = {name: schema for name, schema in ask.tools.items() if name in names}
        if allowed.get("mode") == "required":
            ask.forced_tool = ""
    ask.parallel_calls = body.get("parallel_tool_calls") is not False
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            ask.json_schema = (response_format.get("json_schema") or {}).get("schema") or {}
        ask.json_object = response_format.get("type") == "json_object"
    return ask
