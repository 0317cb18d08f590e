"""The tools an assistant offers its model: from inline `model.tools` and stored `model.toolIds`.

Function tools carry an OpenAI function definition (`function: {name, description, parameters}`) plus
Vapi-only settings (`server`, `messages`); apiRequest tools are offered under their `name` with their
body schema (minus fixed values) as parameters. Other Vapi tool types are kept on the assistant but are
not offered in chats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatloom.tools.api_request import model_parameters

CHAT_TOOL_TYPES = frozenset(("function", "apiRequest"))


def tool_name(tool: dict[str, Any]) -> str | None:
    if tool.get("type") == "function":
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
    else:
        name = tool.get("name")
    return name if isinstance(name, str) and name else None


def definition(tool: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI function definition the model sees for a tool."""
    if tool.get("type") == "function":
        function = tool["function"]
        return {
            "type": "function",
            "function": {
                k: function[k] for k in ("name", "description", "parameters", "strict") if k in function
            },
        }
    described: dict[str, Any] = {"name": tool["name"], "parameters": model_parameters(tool)}
    if tool.get("description"):
        described["description"] = tool["description"]
    return {"type": "function", "function": described}


@dataclass(slots=True)
class Toolbox:
    """The assistant's chat tools by the name the model calls them."""

    by_name: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, tools: list[dict[str, Any]]) -> Toolbox:
        box = cls()
        for tool in tools:
            name = tool_name(tool) if isinstance(tool, dict) and tool.get("type") in CHAT_TOOL_TYPES else None
            if name is not None:
                box.by_name[name] = tool
        return box

    def definitions(self) -> list[dict[str, Any]]:
        return [definition(tool) for tool in self.by_name.values()]
