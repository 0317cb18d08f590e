"""What a turn's model calls see of its history, as the turn goes on: the context policy of the assistant
answering, which leading messages are never dropped, how many history messages are still sent, and what
was left out (for `Chat.contextWindow`). Each fit returns a new `Window` and the messages later rounds
start from: history left out is left out for the rest of the turn."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chatloom.domain.messages import Message
from chatloom.domain.tokens import json_tokens
from chatloom.engine.context.budget import ContextBudget, ContextPolicy, Fitted


@dataclass(frozen=True, slots=True)
class Window:
    policy: ContextPolicy | None
    head: int
    """Messages at the start of every call that are never dropped: the instructions (and a summary)."""
    history_sent: int
    """History messages after the head in the messages the next call starts from."""
    tool_tokens: int
    """The tokens of the tool definitions the calls send."""
    dropped: int = 0
    """How many of the oldest history messages the first assistant's calls do not see."""
    count_dropped: bool = True
    """False once a hand-off happened: `Chat.contextWindow` describes the first assistant's view."""
    first_seen: int = 0
    """Where the history sent starts in the stored history, before truncation (after a summary)."""
    summary: Message | None = None
    """A summary this turn wrote, stored before its input ("summarize")."""
    summary_index: int | None = None
    """Where the summary the calls see is in the stored history."""


def open_window(
    budget: ContextBudget,
    provider: str,
    model: dict[str, Any],
    max_tokens: int | None,
    truncation: str | None,
    tools: list[dict[str, Any]],
    head: int,
    history: int,
) -> Window:
    """The window of an assistant's calls: `head` instruction messages then `history` messages that may
    be left out."""
    policy = budget.policy(provider, model, max_tokens, truncation)
    return Window(policy, head, history, json_tokens(tools))


def fit(
    budget: ContextBudget, window: Window, base: list[Message], messages: list[Message]
) -> tuple[Fitted, Window, list[Message]]:
    """`messages` (the `base` the calls start from, then this assistant's output so far) cut to the
    window; the new window, and the base later calls start from (without what was dropped)."""
    assert window.policy is not None
    head = window.head
    fitted = budget.fit(
        window.policy, messages, head, len(messages) - head - window.history_sent, window.tool_tokens
    )
    if not fitted.dropped:
        return fitted, window, base
    narrowed = replace(
        window,
        dropped=window.dropped + (fitted.dropped if window.count_dropped else 0),
        history_sent=window.history_sent - fitted.dropped,
    )
    return fitted, narrowed, [*base[:head], *base[head + fitted.dropped :]]
