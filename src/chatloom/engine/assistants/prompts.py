"""An assistant's prompt: its `model.messages`, system and developer messages rendered with Liquid and its
`variableValues` (and Vapi's default variables), checked against the render limits when saved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatloom.domain.messages import INSTRUCTION_ROLES, Message
from chatloom.templates.liquid import check_template_limits, default_variables, render_prompt_async


async def render_system_messages(
    model: dict[str, Any], overrides: dict[str, Any] | None, now: datetime
) -> list[Message]:
    """The assistant's `model.messages`, with Liquid rendered in system and developer messages."""
    prompt_messages = model.get("messages") or []
    if not prompt_messages:
        return []
    values = (overrides or {}).get("variableValues") or {}
    variables = {**default_variables(now, values.get("customer")), **values}
    rendered: list[Message] = []
    for index, message in enumerate(prompt_messages):
        content = message.get("content")
        if message.get("role") in INSTRUCTION_ROLES and isinstance(content, str):
            content = await render_prompt_async(
                content, variables, f"assistant.model.messages[{index}].content"
            )
        rendered.append({"role": message["role"], "content": content})
    return rendered


async def check_prompt_templates(model: dict[str, Any] | None, now: datetime) -> None:
    """Refuses, when an assistant is saved, a prompt template that exceeds the render limits with Vapi's
    default variables (a 400 naming `model.messages[i].content`)."""
    if not isinstance(model, dict):
        return
    variables = default_variables(now)
    for index, message in enumerate(model.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if message.get("role") in INSTRUCTION_ROLES and isinstance(content, str):
            await check_template_limits(content, variables, f"model.messages[{index}].content")
