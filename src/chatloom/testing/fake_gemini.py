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

from chatloom.testing.fake_defaults import FakeAsk, unscripted_reply
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
        part["text"]
        for part in parts
        if isinstance(part, dict) and isinstance(part.get("text"), str) and part.get("thought") is not True
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
        return unscripted_reply(gemini_ask(body))

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
        parts = thought_parts(reply)
        parts += [{"text": text}] if text or not reply.tool_calls else []
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
        chunk_parts: list[list[dict[str, Any]]] = [[part] for part in thought_parts(reply)]
        chunk_parts += [[{"text": piece}] for piece in reply.text_pieces]
        if reply.tool_calls:
            chunk_parts.append(self._function_calls(reply))
        if not reply.text_pieces and not reply.tool_calls:
            chunk_parts.append([{"text": ""}])
        frames = []
        for position, parts in enumerate(chunk_parts):
            last = position == len(chunk_parts) - 1
            response = self._response(reply, parts, response_id, usage if last else None)
            if not last:
                response["usageMetadata"] = prompt_only
            frames.append(sse_chunk(response))
        return [], frames


def thought_parts(reply: FakeReply) -> list[dict[str, Any]]:
    """The scripted reasoning as thought-summary parts."""
    return [{"text": thought, "thought": True} for thought in reply.reasoning]


def response_text(response: Any) -> str:
    """A functionResponse's `response` as the tool's text: its `result` string, else its JSON."""
    if isinstance(response, dict) and isinstance(response.get("result"), str):
        return str(response["result"])
    return orjson.dumps(response).decode()


def gemini_ask(body: dict[str, Any]) -> FakeAsk:
    """A generateContent request read for the default answer (`fake_defaults`)."""
    contents = contents_of(body)
    ask = FakeAsk()
    ask.conversation_text = "\n".join(
        str(part.get("text"))
        for content in contents
        for part in content.get("parts") or ()
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )
    last_parts = contents[-1].get("parts") if contents else None
    if isinstance(last_parts, list) and last_parts:
        responses = [part.get("functionResponse") for part in last_parts if isinstance(part, dict)]
        if all(isinstance(response, dict) for response in responses):
            ask.tool_results = [response_text(response.get("response")) for response in responses if response]
    users = [c for c in contents if c.get("role", "user") == "user" and parts_text(c)]
    if users:
        ask.user_text = parts_text(users[-1])
        for part in users[-1].get("parts") or ():
            media = part.get("inlineData") or part.get("fileData") if isinstance(part, dict) else None
            if isinstance(media, dict):
                kind = "image" if str(media.get("mimeType", "")).startswith("image/") else "file"
                ask.attachments[kind] = ask.attachments.get(kind, 0) + 1
    for tool in body.get("tools") or ():
        for declaration in tool.get("functionDeclarations") or () if isinstance(tool, dict) else ():
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                schema = declaration.get("parametersJsonSchema", declaration.get("parameters"))
                ask.tools[declaration["name"]] = schema
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if calling.get("mode") == "ANY":
        names = [name for name in calling.get("allowedFunctionNames") or () if name in ask.tools]
        ask.tools = {name: ask.tools[name] for name in names} if names else ask.tools
        ask.forced_tool = ""
    elif calling.get("mode") == "NONE":
        ask.tools = {}
    config = body.get("generationConfig") or {}
    schema = config.get("responseJsonSchema", config.get("responseSchema"))
    if isinstance(schema, dict):
        ask.json_schema = schema
    ask.json_object = config.get("responseMimeType") == "application/json"
    return ask
