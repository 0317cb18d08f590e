"""Wire input as chat messages: a Vapi `input` (text or messages), Vapi messages, and OpenAI Responses
input items (messages, `function_call`, `function_call_output`; `reasoning` items are accepted and not
sent on); a malformed item is a 400 naming it.
Content parts (text, images, files) are checked by `api/content_parts.py`."""

from __future__ import annotations

from typing import Any

import orjson

from chatloom.api.content_parts import AttachmentBudget, content_list
from chatloom.api.deps import parse_model
from chatloom.api.schemas.common import ChatMessageIn
from chatloom.domain.attachments import has_attachments, is_remote, shown_messages
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.messages import Message, ToolCall

ITEM_BOOKKEEPING = ("type", "id", "status")


def vapi_input(value: str | list[ChatMessageIn]) -> tuple[list[Message], Any]:
    """A Vapi `input` as the turn's messages, and as the chat's `input` field stores it."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}], value
    budget = AttachmentBudget()
    messages = [to_message(item, f"input[{index}]", budget) for index, item in enumerate(value)]
    return messages, stored_input(messages)


def stored_input(messages: list[Message]) -> list[Message]:
    """The chat's `input` field for input messages: attachments as markers, as their data is stored once
    (in the chat's messages)."""
    return shown_messages(messages) if has_attachments(messages) else messages


def inline_only(messages: list[Message]) -> None:
    """Refuses attachments given by URL (web chat: a public key must not make this server fetch URLs)."""
    if not has_attachments(messages):
        return
    for index, message in enumerate(messages):
        content = message.get("content")
        for place, part in enumerate(content if type(content) is list else ()):
            if is_remote(part):
                where = f"input[{index}].content[{place}]"
                raise InvalidRequest(
                    f"{where}: web chat takes images and files inline (base64 or a data: URL), not by URL",
                    field=where,
                )


def response_raw_input(value: str | list[dict[str, Any]], messages: list[Message]) -> Any:
    """A Responses `input` as the chat's `input` field stores it."""
    return value if isinstance(value, str) else stored_input(messages)


def to_message(item: ChatMessageIn, where: str = "input", budget: AttachmentBudget | None = None) -> Message:
    content = item.content
    if isinstance(content, list):
        content = content_list(
            content, f"{where}.content", budget or AttachmentBudget(), responses=False, role=item.role
        )
    message: Message = {"role": item.role, "content": content}
    if item.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.function.name,
                    "arguments": call.function.arguments
                    if isinstance(call.function.arguments, str)
                    else orjson.dumps(call.function.arguments).decode(),
                },
            }
            for call in item.tool_calls
        ]
    if item.tool_call_id:
        message["tool_call_id"] = item.tool_call_id
    if item.name:
        message["name"] = item.name
    return message


def _text(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    raise InvalidRequest(f"{field}: must be a string", field=field)


def response_input(items: str | list[dict[str, Any]], label: str = "input") -> list[Message]:
    """OpenAI input items as chat messages: messages, `function_call` and `function_call_output`; errors
    name the item as `label[index]`."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[Message] = []
    budget = AttachmentBudget()
    for index, item in enumerate(items):
        where = f"{label}[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where}: must be an object", field=where)
        kind = item.get("type")
        if kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequest(f"{where}.call_id: is required", field=f"{where}.call_id")
            output = _text(item.get("output", ""), f"{where}.output")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
        elif kind == "function_call":
            call_id, name = item.get("call_id"), item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str) or not call_id or not name:
                raise InvalidRequest(f"{where}: a function_call needs call_id and name", field=where)
            call: ToolCall = {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": _text(item.get("arguments", "{}"), f"{where}.arguments"),
                },
            }
            previous = messages[-1] if messages else None
            if previous is not None and previous["role"] == "assistant" and "tool_calls" in previous:
                previous["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in (None, "message"):
            fields = {k: v for k, v in item.items() if k not in ITEM_BOOKKEEPING}
            parts = fields.get("content")
            if isinstance(parts, list):
                fields["content"] = ""  # checked below, part by part
            message = to_message(parse_model(ChatMessageIn, fields, prefix=where))
            if isinstance(parts, list):
                message["content"] = content_list(
                    parts, f"{where}.content", budget, responses=True, role=message["role"]
                )
            messages.append(message)
        elif kind == "reasoning":
            # A response's output replayed as input (the Agents SDK does): reasoning summaries are what
            # the model thought, not what was said, and no provider takes them back, so they are not sent.
            if not isinstance(item.get("summary", []), list):
                raise InvalidRequest(f"{where}.summary: must be an array", field=f"{where}.summary")
        else:
            raise InvalidRequest(
                f"{where}.type: '{kind}' input items are not supported", field=f"{where}.type"
            )
    return messages
