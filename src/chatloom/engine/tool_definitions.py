"""The tool definitions a model is offered, from the assistant's `model.tools` (Vapi tool DTOs).

A Vapi function tool carries an OpenAI function definition (`function: {name, description,
parameters}`) plus Vapi-only settings (`server`, `messages`); only the definition goes to the model.
"""

from __future__ import annotations

from typing import Any


def function_definitions(model: dict[str, Any]) -> list[dict[str, Any]]:
    definitions: list[dict[str, Any]] = []
    for tool in model.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") == "function" and isinstance(function, dict) and function.get("name"):
            definition = {
                key: function[key]
                for key in ("name", "description", "parameters", "strict")
                if key in function
            }
            definitions.append({"type": "function", "function": definition})
    return definitions
