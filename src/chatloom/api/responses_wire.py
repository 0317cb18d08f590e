"""The OpenAI Responses wire format: response objects, stream events and error envelopes.

A turn's events become the full event sequence the OpenAI SDK's `responses.stream()` helper needs:
`response.created`, `response.in_progress`, per output message `output_item.added`,
`content_part.added`, `output_text.delta`..., `output_text.done`, `content_part.done`,
`output_item.done`, then `response.completed` — or `error` and `response.failed`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from chatloom.api.errors import error_envelope_of
from chatloom.domain.events import TurnCompleted, TurnDelta, TurnEvent, TurnFailed, TurnStarted
from chatloom.domain.messages import Message
from chatloom.domain.usage import ModelCall


@dataclass(slots=True)
class ResponseShape:
    """What a response object echoes from its request."""

    model: str
    instructions: str | None = None
    previous_response_id: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def message_item_id(chat_id: str, output_index: int) -> str:
    return f"msg_{chat_id.replace('-', '')}_{output_index}"


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def output_items(chat_id: str, output: list[Message]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for index, message in enumerate(output):
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls", []):
            items.append(
                {
                    "id": f"fc_{call['id']}",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": call["function"]["arguments"],
                }
            )
        content = message.get("content")
        if content:
            items.append(message_item(chat_id, index, "completed", [text_part(content)]))
    return items


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
    return {
        "id": chat_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error,
        "incomplete_details": None,
        "instructions": shape.instructions,
        "max_output_tokens": shape.max_output_tokens,
        "max_tool_calls": None,
        "model": shape.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": shape.previous_response_id,
        "conversation": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": shape.temperature,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": shape.metadata,
    }


def completed_response(done: TurnCompleted, shape: ResponseShape, created_at: int) -> dict[str, Any]:
    chat_id = str(done.chat["id"])
    if done.calls:
        shape.model = done.calls[-1].model
    return response_object(
        chat_id, shape, created_at, "completed", output_items(chat_id, done.output), usage_of(done.calls)
    )


class ResponseEventStream:
    """Turns a turn's events into numbered OpenAI Responses SSE frames."""

    def __init__(self, shape: ResponseShape) -> None:
        self.shape = shape
        self.sequence = 0
        self.created_at = int(time.time())
        self.chat_id = ""
        self.open_index: int | None = None
        self.open_text: list[str] = []

    def frame(self, kind: str, payload: dict[str, Any]) -> bytes:
        body = {"type": kind, "sequence_number": self.sequence, **payload}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"

    def _in_progress(self) -> dict[str, Any]:
        return response_object(self.chat_id, self.shape, self.created_at, "in_progress", [], None)

    def _close_item(self) -> list[bytes]:
        if self.open_index is None:
            return []
        index, text = self.open_index, "".join(self.open_text)
        item_id = message_item_id(self.chat_id, index)
        position = {"item_id": item_id, "output_index": index, "content_index": 0}
        frames = [
            self.frame("response.output_text.done", {**position, "text": text, "logprobs": []}),
            self.frame("response.content_part.done", {**position, "part": text_part(text)}),
            self.frame(
                "response.output_item.done",
                {
                    "output_index": index,
                    "item": message_item(self.chat_id, index, "completed", [text_part(text)]),
                },
            ),
        ]
        self.open_index, self.open_text = None, []
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
            if self.open_index != event.output_index:
                frames.extend(self._close_item())
                self.open_index = event.output_index
                item_id = message_item_id(self.chat_id, event.output_index)
                frames.append(
                    self.frame(
                        "response.output_item.added",
                        {
                            "output_index": event.output_index,
                            "item": message_item(self.chat_id, event.output_index, "in_progress", []),
                        },
                    )
                )
                frames.append(
                    self.frame(
                        "response.content_part.added",
                        {
                            "item_id": item_id,
                            "output_index": event.output_index,
                            "content_index": 0,
                            "part": text_part(""),
                        },
                    )
                )
            self.open_text.append(event.text)
            frames.append(
                self.frame(
                    "response.output_text.delta",
                    {
                        "item_id": message_item_id(self.chat_id, event.output_index),
                        "output_index": event.output_index,
                        "content_index": 0,
                        "delta": event.text,
                        "logprobs": [],
                    },
                )
            )
            return frames
        if isinstance(event, TurnCompleted):
            frames = self._close_item()
            final = completed_response(event, self.shape, self.created_at)
            return [*frames, self.frame("response.completed", {"response": final})]
        if isinstance(event, TurnFailed):
            _status, envelope = error_envelope_of(event.error)
            inner = envelope["error"]
            code = inner["code"] or "server_error"
            failed = response_object(
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


async def response_frames(events: AsyncIterator[TurnEvent], shape: ResponseShape) -> AsyncIterator[bytes]:
    stream = ResponseEventStream(shape)
    async for event in events:
        for frame in stream.on_event(event):
            yield frame
