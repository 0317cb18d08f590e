"""Rules about a conversation's history: a tool result in the input must answer a tool call still open."""

from __future__ import annotations

from chatloom.domain.errors import InvalidRequest
from chatloom.domain.messages import Message


def check_tool_results(history: list[Message], new_input: list[Message]) -> None:
    """Each tool message in the input must answer a call that is still open (a client-side tool call of
    the conversation, or one in the input itself), once."""
    if not any(message["role"] == "tool" for message in new_input):
        return  # nothing to check, and a long history is not walked on every turn
    open_calls: set[str] = set()
    for message in history:
        _track(open_calls, message)
    for index, message in enumerate(new_input):
        if message["role"] == "tool":
            call_id = message.get("tool_call_id", "")
            if call_id not in open_calls:
                where = f"input[{index}].tool_call_id"
                raise InvalidRequest(
                    f"{where}: '{call_id}' answers no pending tool call of this conversation", field=where
                )
        _track(open_calls, message)


def _track(open_calls: set[str], message: Message) -> None:
    if message["role"] == "assistant":
        open_calls.update(call["id"] for call in message.get("tool_calls", []))
    elif message["role"] == "tool":
        open_calls.discard(message.get("tool_call_id", ""))
