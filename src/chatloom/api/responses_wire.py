"""The OpenAI Responses wire format: response objects, stream events and error envelopes.

A turn's events become the full event sequence the OpenAI SDK's `responses.stream()` helper needs:
`response.created`, `response.in_progress`, per output message `output_item.added`,
`content_part.added`, `output_text.delta`..., `output_text.done`, `content_part.done`,
`output_item.done`, then `response.completed` — or `error` and `response.failed`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from chatloom.api.content_parts import responses_parts, with_parts
from chatloom.api.errors import error_envelope_of
from chatloom.api.response_echo import DEFAULT_ECHO
from chatloom.domain.events import (
    TurnCompleted,
    TurnDelta,
    TurnEvent,
    TurnFailed,
    TurnStarted,
    TurnToolCalls,
)
from chatloom.domain.messages import Message, ToolCall, text_of
from chatloom.domain.usage import ModelCall
from chatloom.relay.memory import StreamInfo


@dataclass(slots=True)
class ResponseShape:
    """What a response object echoes from its request."""

    model: str
    instructions: str | None = None
    previous_response_id: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    truncation: str = "disabled"
    """OpenAI's `truncation` as the turn applied it: "auto" unless the history is sent whole."""
    background: bool = False
    session_id: str | None = None
    """Web chat: the session the turn ran on, echoed as `sessionId` so the next turn can name it."""
    echo: dict[str, Any] = field(default_factory=dict)
    """The request's settings a `Response` echoes (`tools`, `tool_choice`, `text`, `store`, ...), where the
    request set them; `DEFAULT_ECHO` fills the rest."""


def message_item_id(chat_id: str, output_index: int) -> str:
    return f"msg_{chat_id.replace('-', '')}_{output_index}"


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def output_items(chat_id: str, output: list[Message]) -> list[dict[str, Any]]:
    """The Responses `output` of a turn: per assistant message, its reasoning, its text, then the calls
    it left to the caller (calls the server answered in the turn, its tools', are not the caller's to
    run: they show in the stored chat)."""
    answered = {m.get("tool_call_id") for m in output if m.get("role") == "tool"}
    items: list[dict[str, Any]] = []
    for index, message in enumerate(output):
        if message.get("role") != "assistant":
            continue
        metadata = message.get("metadata")
        if metadata and metadata.get("reasoning"):
            items.append(reasoning_item(chat_id, index, metadata["reasoning"]))
        content = message.get("content")
        if content:
            items.append(message_item(chat_id, index, "completed", [text_part(text_of(content))]))
        items.extend(
            function_call_item(call, "completed")
            for call in message.get("tool_calls", [])
            if call["id"] not in answered
        )
    return items


def reasoning_item(chat_id: str, index: int, summaries: list[str]) -> dict[str, Any]:
    """A `reasoning` output item: the model's reasoning summaries, as the provider gave them."""
    return {
        "id": f"rs_{chat_id.replace('-', '')}_{index}",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text} for text in summaries],
        "status": "completed",
    }


def function_call_item(call: ToolCall, status: str, arguments: str | None = None) -> dict[str, Any]:
    return {
        "id": f"fc_{call['id']}",
        "type": "function_call",
        "status": status,
        "call_id": call["id"],
        "name": call["function"]["name"],
        "arguments": call["function"]["arguments"] if arguments is None else arguments,
    }


def message_item(chat_id: str, index: int, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": message_item_id(chat_id, index),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def usage_of(calls: list[ModelCall]) -> dict[str, Any]:
    prompt = sum(c.usage.prompt_tokens for c in calls)
    completion = sum(c.usage.completion_tokens for c in calls)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": sum(c.usage.cached_prompt_tokens for c in calls),
            "cache_write_tokens": sum(c.usage.cache_write_tokens for c in calls),
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": sum(c.usage.reasoning_tokens for c in calls)},
        "total_tokens": prompt + completion,
    }


def response_object(
    chat_id: str,
    shape: ResponseShape,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    session = {"sessionId": shape.session_id} if shape.session_id is not None else {}
    response = {
        **session,
        "id": chat_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": shape.background,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error,
        "incomplete_details": None,
        "instructions": shape.instructions,
        "max_output_tokens": shape.max_output_tokens,
        "max_tool_calls": None,
        "model": shape.model,
        "output": output,
        **DEFAULT_ECHO,
        "previous_response_id": shape.previous_response_id,
        "temperature": shape.temperature,
        "top_logprobs": 0,
        "truncation": shape.truncation,
        "usage": usage,
        "metadata": shape.metadata,
    }
    if shape.echo:
        response.update(shape.echo)
    return response


def completed_response(done: TurnCompleted, shape: ResponseShape, created_at: int) -> dict[str, Any]:
    chat_id = str(done.chat["id"])
    if done.calls:
        shape.model = done.calls[-1].model
    return response_object(
        chat_id, shape, created_at, "completed", output_items(chat_id, done.output), usage_of(done.calls)
    )


class ResponseEventStream:
    """Turns a turn's events into numbered OpenAI Responses SSE frames. Output items are numbered in the
    order they appear (text, then function calls, per assistant message), as in the final response."""

    def __init__(self, shape: ResponseShape) -> None:
        self.shape = shape
        self.sequence = 0
        self.created_at = int(time.time())
        self.chat_id = ""
        self.items = 0
        """How many output items were opened so far; the next one gets this `output_index`."""
        self.open_message: int | None = None
        """`Chat.output` index of the message whose text is streaming, if any."""
        self.open_item = 0
        self.open_text: list[str] = []
        self.latest: dict[str, Any] | None = None
        """The last whole `Response` framed: what `GET /chat/responses/{id}` shows while it is kept."""

    def frame(self, kind: str, payload: dict[str, Any]) -> bytes:
        body = {"type": kind, "sequence_number": self.sequence, **payload}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"

    def _in_progress(self) -> dict[str, Any]:
        self.latest = response_object(self.chat_id, self.shape, self.created_at, "in_progress", [], None)
        return self.latest

    def _position(self) -> dict[str, Any]:
        assert self.open_message is not None
        item_id = message_item_id(self.chat_id, self.open_message)
        return {"item_id": item_id, "output_index": self.open_item, "content_index": 0}

    def _open_message(self, message_index: int) -> list[bytes]:
        self.open_message, self.open_item, self.open_text = message_index, self.items, []
        self.items += 1
        item = message_item(self.chat_id, message_index, "in_progress", [])
        return [
            self.frame("response.output_item.added", {"output_index": self.open_item, "item": item}),
            self.frame("response.content_part.added", {**self._position(), "part": text_part("")}),
        ]

    def _close_message(self) -> list[bytes]:
        if self.open_message is None:
            return []
        text, position = "".join(self.open_text), self._position()
        item = message_item(self.chat_id, self.open_message, "completed", [text_part(text)])
        frames = [
            self.frame("response.output_text.done", {**position, "text": text, "logprobs": []}),
            self.frame("response.content_part.done", {**position, "part": text_part(text)}),
            self.frame("response.output_item.done", {"output_index": self.open_item, "item": item}),
        ]
        self.open_message = None
        return frames

    def _function_calls(self, calls: list[ToolCall]) -> list[bytes]:
        frames: list[bytes] = []
        for call in calls:
            index, item_id, arguments = self.items, f"fc_{call['id']}", call["function"]["arguments"]
            self.items += 1
            at = {"item_id": item_id, "output_index": index}
            frames += [
                self.frame(
                    "response.output_item.added",
                    {"output_index": index, "item": function_call_item(call, "in_progress", "")},
                ),
                self.frame("response.function_call_arguments.delta", {**at, "delta": arguments}),
                self.frame("response.function_call_arguments.done", {**at, "arguments": arguments}),
                self.frame(
                    "response.output_item.done",
                    {"output_index": index, "item": function_call_item(call, "completed")},
                ),
            ]
        return frames

    def on_event(self, event: TurnEvent) -> list[bytes]:
        if isinstance(event, TurnStarted):
            self.chat_id = event.chat_id
            return [
                self.frame("response.created", {"response": self._in_progress()}),
                self.frame("response.in_progress", {"response": self._in_progress()}),
            ]
        if isinstance(event, TurnDelta):
            frames: list[bytes] = []
            if self.open_message != event.output_index:
                frames += self._close_message()
                frames += self._open_message(event.output_index)
            self.open_text.append(event.text)
            delta = {**self._position(), "delta": event.text, "logprobs": []}
            return [*frames, self.frame("response.output_text.delta", delta)]
        if isinstance(event, TurnToolCalls):
            return [*self._close_message(), *self._function_calls(event.calls)]
        if isinstance(event, TurnCompleted):
            frames = self._close_message()
            final = self.latest = completed_response(event, self.shape, self.created_at)
            return [*frames, self.frame("response.completed", {"response": final})]
        if isinstance(event, TurnFailed):
            _status, envelope = error_envelope_of(event.error)
            inner = envelope["error"]
            code = inner["code"] or "server_error"
            failed = self.latest = response_object(
                self.chat_id or event.chat_id,
                self.shape,
                self.created_at,
                "failed",
                [],
                None,
                error={"code": code, "message": inner["message"]},
            )
            return [
                self.frame("error", {"code": code, "message": inner["message"], "param": inner["param"]}),
                self.frame("response.failed", {"response": failed}),
            ]
        return []


class ResponseFraming(ResponseEventStream):
    """The Responses events as the relay keeps them (`kind` "response"); a cancelled turn ends with a
    `response.cancelled` event (a chatloom addition: OpenAI's stream has no event for it)."""

    kind = "response"

    def closing(self) -> list[bytes]:
        return []

    def cancelled(self) -> list[bytes]:
        self.latest = response_object(self.chat_id, self.shape, self.created_at, "cancelled", [], None)
        return [self.frame("response.cancelled", {"response": self.latest})]

    def snapshot(self) -> bytes | None:
        return orjson.dumps(self.latest) if self.latest is not None else None


def stored_response(chat: dict[str, Any]) -> dict[str, Any]:
    """A stored chat as a `Response`, for a turn whose stream (and the request's settings) is no longer
    kept: the model and usage come from its costs."""
    costs = [cost for cost in chat.get("costs", []) if cost.get("type") == "model"]
    model = costs[-1]["model"]["model"] if costs else ""
    prompt = sum(int(cost.get("promptTokens", 0)) for cost in costs)
    completion = sum(int(cost.get("completionTokens", 0)) for cost in costs)
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": sum(int(c.get("cachedPromptTokens", 0)) for c in costs),
            "cache_write_tokens": 0,
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }
    metadata = chat.get("metadata")
    shape = ResponseShape(
        model=model,
        previous_response_id=chat.get("previousChatId"),
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
    )
    chat_id = str(chat["id"])
    created_at = chat.get("createdAt")
    created = int(datetime.fromisoformat(created_at).timestamp()) if isinstance(created_at, str) else 0
    response = response_object(
        chat_id, shape, created, "completed", output_items(chat_id, chat.get("output", [])), usage
    )
    response["completed_at"] = created
    return response


def in_flight_response(info: StreamInfo) -> dict[str, Any]:
    """What is known of a kept turn: its latest `Response` (a `/chat` turn has only an id and status)."""
    if info.snapshot is not None:
        response: dict[str, Any] = orjson.loads(info.snapshot)
        response["status"] = info.status
        return response
    return {"id": info.turn_id, "object": "response", "status": info.status, "background": info.background}


def input_items(chat: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored chat's input as Responses input items (oldest first)."""
    raw = chat.get("input")
    messages: list[Any] = (
        [{"role": "user", "content": raw}] if isinstance(raw, str) else with_parts(raw, chat)
    )
    items: list[dict[str, Any]] = []
    chat_id = str(chat["id"]).replace("-", "")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "tool":
            output = message.get("content") or ""
            call_id = message.get("tool_call_id", "")
            items.append(
                {
                    "id": f"fco_{chat_id}_{index}",
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": output,
                    "status": "completed",
                }
            )
            continue
        content = message.get("content")
        if content:
            kind = "output_text" if role == "assistant" else "input_text"
            items.append(
                {
                    "id": f"in_{chat_id}_{index}",
                    "type": "message",
                    "role": role,
                    "status": "completed",
                    "content": [{"type": kind, "text": content}]
                    if isinstance(content, str)
                    else responses_parts(content, str(role)),
                }
            )
        items.extend(function_call_item(call, "completed") for call in message.get("tool_calls") or [])
    return items
