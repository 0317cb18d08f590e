"""A conversation's messages as OpenAI conversation items, and back: item ids name a message's position
in the conversation (and, for a function call, which call of the message), so an item is found and
deleted without any id stored beside the message itself.

Ids: `msg_<conversation>_<position>` (a message's text), `fc_<conversation>_<position>_<call>` (a
function call), `fco_<conversation>_<position>` (a function call's output).
"""

from __future__ import annotations

from typing import Any

from chatloom.api.content_parts import responses_parts
from chatloom.api.wire_input import response_input
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.messages import Message, text_of
from chatloom.engine.records.conversations import Positioned, call_key, message_key
from chatloom.store.conversations import ConversationRow

Item = dict[str, Any]
MESSAGE_ROLES = ("user", "assistant", "system", "developer")


def conversation_object(row: ConversationRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "conversation",
        "created_at": int(row.created_at.timestamp()),
        "metadata": row.metadata,
    }


def _tag(conversation_id: str) -> str:
    return conversation_id.removeprefix("conv_")


def items_of(conversation_id: str, entries: list[Positioned], hidden: tuple[str, ...] = ()) -> list[Item]:
    """The items of `entries` (oldest first), less the deleted ones."""
    tag, gone = _tag(conversation_id), set(hidden)
    items: list[Item] = []
    for entry in entries:
        position, message = entry.position, entry.message
        role = message.get("role")
        if role == "tool":
            if message_key(position) not in gone:
                items.append(
                    {
                        "id": f"fco_{tag}_{position}",
                        "type": "function_call_output",
                        "call_id": message.get("tool_call_id", ""),
                        "output": text_of(message.get("content")),
                        "status": "completed",
                    }
                )
            continue
        content = message.get("content")
        if content and message_key(position) not in gone:
            assistant = role == "assistant"
            if isinstance(content, str):
                part: Item = {"type": "output_text" if assistant else "input_text", "text": content}
                parts = [{**part, "annotations": []} if assistant else part]
            else:  # content parts: images and files listed as such, not dropped
                parts = responses_parts(content, str(role))
            items.append(
                {
                    "id": f"msg_{tag}_{position}",
                    "type": "message",
                    "role": role,
                    "content": parts,
                    "status": "completed",
                }
            )
        for number, call in enumerate(message.get("tool_calls") or []):
            if call_key(position, number) in gone:
                continue
            items.append(
                {
                    "id": f"fc_{tag}_{position}_{number}",
                    "type": "function_call",
                    "call_id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": call["function"]["arguments"],
                    "status": "completed",
                }
            )
    return items


def key_of(conversation_id: str, item_id: str) -> str | None:
    """The hidden-item key an item id names (None: not an id of this conversation)."""
    kind, _, rest = item_id.partition("_")
    tag = _tag(conversation_id) + "_"
    if not rest.startswith(tag):
        return None
    numbers = rest[len(tag) :].split("_")
    if not all(number.isdigit() for number in numbers):
        return None
    if kind in ("msg", "fco") and len(numbers) == 1:
        return message_key(int(numbers[0]))
    if kind == "fc" and len(numbers) == 2:
        return call_key(int(numbers[0]), int(numbers[1]))
    return None


def messages_of(items: list[dict[str, Any]]) -> list[Message]:
    """Input items as the messages a conversation stores; a message's role must be one OpenAI accepts in
    a conversation."""
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") in (None, "message"):
            role = item.get("role")
            if role not in MESSAGE_ROLES:
                where = f"items[{index}].role"
                raise InvalidRequest(f"{where}: must be one of {', '.join(MESSAGE_ROLES)}", field=where)
    return response_input(items, "items")
