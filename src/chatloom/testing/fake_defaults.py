"""What the fake LLM answers a request nobody scripted a reply for, in any dialect.

Each dialect reads its request into a `FakeAsk`; `unscripted_reply` then answers, first match wins:

1. the request ends with tool results: "Tool said: " and the results' texts joined by ", " (OpenAI and
   Gemini; the Anthropic dialect keeps its older default, which ignores tool results and goes on);
2. the tool choice forces a call (OpenAI "required" or a named function, Anthropic "any"/"tool", Gemini
   mode ANY): a call of the named tool (else the first offered) with the minimal arguments valid for its
   parameters schema (`json_instance.minimal_instance`);
3. the last user text says `call:<tool_name>` for offered tools, and the tool choice is not "none": one
   call per tool named (only the first when parallel calls are turned off), minimal arguments again;
4. the request asks for JSON by schema: an instance of the schema filled from what the conversation
   states (`json_instance.instance_from_text`: `name: Ada` fills `name`; nothing stated: the minimal
   instance) as JSON text, or "not JSON" when the conversation says `[invalid json]`; JSON mode: "{}";
5. otherwise "You said: <last user text>", followed by " [1 image]", " [2 files]", ... when the last user
   message carries images or files (counted per kind: image, file).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from chatloom.testing.fake_dialect import FakeReply
from chatloom.testing.json_instance import instance_from_text, minimal_instance

CALL_MENTION = re.compile(r"call:([A-Za-z0-9_.\-]+)")
_call_ids = itertools.count(1)
INVALID_JSON = "[invalid json]"


@dataclass(slots=True)
class FakeAsk:
    """A request, read by its dialect into what the default answer depends on."""

    user_text: str = ""
    tool_results: list[str] = field(default_factory=list)
    """Texts of the tool results the request ends with (empty unless its last turn is tool results)."""
    tools: dict[str, Any] = field(default_factory=dict)
    """Offered function tools, name to parameters schema, in offered order."""
    forced_tool: str | None = None
    """A tool the choice forces by name; "" when any tool will do (the first offered is called)."""
    parallel_calls: bool = True
    json_schema: dict[str, Any] | None = None
    json_object: bool = False
    attachments: dict[str, int] = field(default_factory=dict)
    """Non-text parts of the last user message, counted by kind ("image", "file")."""
    conversation_text: str = ""
    """The text of every message of the request (what a JSON answer is filled from)."""


def unscripted_reply(ask: FakeAsk) -> FakeReply:
    """The default answer to `ask` (see the module docstring)."""
    if ask.tool_results:
        return FakeReply(text="Tool said: " + ", ".join(ask.tool_results))
    if ask.forced_tool is not None and ask.tools:
        name = ask.forced_tool if ask.forced_tool in ask.tools else next(iter(ask.tools))
        return FakeReply(tool_calls=[tool_call(name, ask.tools[name])])
    named = [name for name in dict.fromkeys(CALL_MENTION.findall(ask.user_text)) if name in ask.tools]
    if named:
        if not ask.parallel_calls:
            named = named[:1]
        return FakeReply(tool_calls=[tool_call(name, ask.tools[name]) for name in named])
    if ask.json_schema is not None:
        if INVALID_JSON in ask.conversation_text:
            return FakeReply(text="not JSON")
        instance = instance_from_text(ask.json_schema, ask.conversation_text)
        return FakeReply(text=orjson.dumps(instance).decode())
    if ask.json_object:
        return FakeReply(text="{}")
    return FakeReply(text=f"You said: {ask.user_text}{attachment_note(ask.attachments)}")


def tool_call(name: str, parameters: Any) -> dict[str, Any]:
    """An OpenAI-shaped tool call of `name` with the minimal arguments its schema allows."""
    arguments = minimal_instance(parameters if parameters else {"type": "object"})
    return {
        "id": f"call_fake{next(_call_ids)}",
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
    }


def attachment_note(attachments: dict[str, int]) -> str:
    """ " [1 image, 2 files]" for what a message carries besides text; "" for nothing."""
    counted = [f"{count} {kind}{'s' if count > 1 else ''}" for kind, count in attachments.items() if count]
    return f" [{', '.join(counted)}]" if counted else ""
