"""The fake LLM's Gemini dialect: `POST .../models/{model}:generateContent` and `:streamGenerateContent`.

Encodes a provider-neutral `FakeReply` as a real `GenerateContentResponse`, or as SSE chunks whose last one
carries `finishReason` and `usageMetadata`. Gemini streams have no terminator: a cut stream just never sends
that last chunk. A reply with status 200 and an `error_body` answers that body as given (streamed: its only
chunk), e.g. a blocked prompt (`promptFeedback`), an in-stream error, or a chunk without `finishReason`.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from chatloom.testing.fake_dialect import FakeReply, word_count

GEMINI_ERROR_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
OPENAI_USAGE_KEYS = {"prompt_tokens": "promptTokenCount", "completion_tokens": "candidatesTokenCount"}
OPENAI_ONLY_USAGE_KEYS = frozenset(
    ("total_tokens", "prompt_tokens_details", "completion_tokens_details", *OPENAI_USAGE_KEYS)
)


def parts_text(content: Any) -> str:
    """The text parts of a Gemini `Content`, joined."""
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return ""
    return "".join(
        part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)
    )


def contents_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    contents = body.get("contents")
    return (
        [content for content in contents if isinstance(content, dict)] if isinstance(contents, list) else []
    )


def function_args(arguments: Any) -> dict[str, Any]:
    """An OpenAI `arguments` string as a functionCall `args` object."""
    if not isinstance(arguments, str) or not arguments:
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def sse_chunk(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


class GeminiDialect:
    """Gemini API v1beta: `generateContent` answers JSON, `streamGenerateContent?alt=sse` answers SSE."""

    stream_terminator = b""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def handles(self, path: str) -> bool:
        return ":generateContent" in path or ":streamGenerateContent" in path

    def wants_stream(self, path: str, body: dict[str, Any]) -> bool:
        return ":streamGenerateContent" in path

    def default_reply(self, body: dict[str, Any]) -> FakeReply:
        user_texts = [
            parts_text(content)
            for content in contents_of(body)
            if content.get("role", "user") == "user" and parts_text(content)
        ]
        return FakeReply(text=f"You said: {user_texts[-1] if user_texts else ''}")

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        kind = GEMINI_ERROR_STATUSES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        text = message or f"The fake LLM was scripted to fail with HTTP {status}."
        return {"error": {"code": status, "message": text, "status": kind}}

    def usage(self, body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
        """Scripted usage (Gemini keys as given, OpenAI prompt/completion keys mapped), completed with
        deterministic counts: 3 + words per content and system instruction, words of the reply."""
        prompt = sum(3 + word_count(parts_text(content)) for content in contents_of(body))
        if body.get("systemInstruction"):
            prompt += 3 + word_count(parts_text(body["systemInstruction"]))
        candidates = word_count(reply.full_text) + sum(
            word_count(str(call.get("function", {}).get("arguments", ""))) for call in reply.tool_calls or ()
        )
        usage: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
        scripted = reply.usage or {}
        usage.update(
            {gemini: scripted[openai] for openai, gemini in OPENAI_USAGE_KEYS.items() if openai in scripted}
        )
        usage.update({key: value for key, value in scripted.items() if key not in OPENAI_ONLY_USAGE_KEYS})
        usage.setdefault(
            "totalTokenCount",
            sum(
                int(usage.get(key, 0))
                for key in ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount")
            ),
        )
        return usage

    def _response(
        self, reply: FakeReply, parts: list[dict[str, Any]], response_id: str, final: dict[str, Any] | None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        response: dict[str, Any] = {"candidates": [candidate]}
        if final is not None:
            candidate["finishReason"] = reply.finish_reason or "STOP"
            response["usageMetadata"] = final
        if reply.model:
            response["modelVersion"] = reply.model
        response["responseId"] = response_id
        return response

    def _function_calls(self, reply: FakeReply) -> list[dict[str, Any]]:
        calls = []
        for call in reply.tool_calls or ():
            function = call.get("function", {})
            wire = {"name": function.get("name"), "args": function_args(function.get("arguments"))}
            if call.get("id"):
                wire["id"] = call["id"]
            calls.append({"functionCall": wire})
        return calls

    def completion(self, body: dict[str, Any], reply: FakeReply) -> bytes:
        if reply.error_body is not None:
            return orjson.dumps(reply.error_body)
        text = reply.full_text
        parts = [{"text": text}] if text or not reply.tool_calls else []
        parts += self._function_calls(reply)
        return orjson.dumps(self._response(reply, parts, f"fake-{next(self._ids)}", self.usage(body, reply)))

    def stream_frames(self, body: dict[str, Any], reply: FakeReply) -> tuple[list[bytes], list[bytes]]:
        if reply.error_body is not None:
            return [], [sse_chunk(reply.error_body)]
        response_id = f"fake-{next(self._ids)}"
        usage = self.usage(body, reply)
        prompt_only = {
            "promptTokenCount": usage["promptTokenCount"],
            "totalTokenCount": usage["promptTokenCount"],
        }
        chunk_parts: list[list[dict[str, Any]]] = [[{"text": piece}] for piece in reply.text_pieces]
        if reply.tool_calls:
            chunk_parts.append(self._function_calls(reply))
        if not chunk_parts:
            chunk_parts.append([{"text": ""}])
        frames = []
        for position, parts in enumerate(chunk_parts):
            last = position == len(chunk_parts) - 1
            response = self._response(reply, parts, response_id, usage if last else None)
            if not last:
                response["usageMetadata"] = prompt_only
            frames.append(sse_chunk(response))
        return [], frames
