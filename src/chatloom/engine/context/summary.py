"""The "summarize" strategy: the oldest history becomes one system message, stored once in the conversation.

The summary is appended to the conversation's messages (before the turn's input) as
`{"role": "system", "content": ..., "metadata": {"contextSummary": {"summarizes": K}}}`: it stands for
the history's first K messages. Later turns send the instructions, the latest summary, then the history
from K on (summaries left out), and summarise again only when that passes the threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from chatloom.domain.events import ModelReply
from chatloom.domain.messages import Message, text_of
from chatloom.domain.tokens import CHARS_PER_TOKEN, messages_tokens
from chatloom.domain.usage import ModelCall
from chatloom.engine.calls.models import ModelCaller
from chatloom.engine.context.budget import ContextBudget
from chatloom.engine.context.window import Window
from chatloom.providers.base import ChatProvider, ModelRequest

SUMMARY_KEY: Final = "contextSummary"
SUMMARIZE_AT: Final = 0.75
"""Share of the prompt budget past which the oldest history is summarised."""
KEEP_RECENT: Final = 0.25
"""Share of the prompt budget the newest history keeps verbatim after a summary."""
SUMMARY_MAX_TOKENS: Final = 512
SUMMARY_SHARE: Final = 0.1
"""The most of the prompt budget a summary may take (and its text is cut to, should a model run over)."""
SUMMARY_INSTRUCTIONS: Final = (
    "Summarise the conversation below for the assistant who continues it: keep names, facts, "
    "decisions, open questions and what the user wants, in a few short paragraphs. Reply with the "
    "summary only."
)


@dataclass(slots=True)
class SummaryView:
    """What the model is sent of the history under "summarize"."""

    summary: Message | None
    """The latest stored summary, as sent (without its metadata)."""
    history: list[Message]
    """The history it does not cover, summaries left out."""
    first_index: int
    """Where `history` starts in the stored history."""
    summary_index: int | None = None
    """Where the summary is in the stored history (None: not stored yet, or no summary)."""


def is_summary(message: Message) -> bool:
    metadata = message.get("metadata")
    return message["role"] == "system" and isinstance(metadata, dict) and SUMMARY_KEY in metadata


def view_of(history: list[Message]) -> SummaryView:
    for index in range(len(history) - 1, -1, -1):
        message = history[index]
        if is_summary(message):
            covers = int(message.get("metadata", {})[SUMMARY_KEY].get("summarizes", 0))
            rest = [m for m in history[covers:] if not is_summary(m)]
            sent: Message = {"role": "system", "content": message.get("content")}
            return SummaryView(sent, rest, covers, index)
    return SummaryView(None, history, 0)


def needs_summary(view: SummaryView, prompt_and_input_tokens: int, limit: float) -> bool:
    return prompt_and_input_tokens + messages_tokens(view.history) + _summary_tokens(view) > (
        limit * SUMMARIZE_AT
    )


def _summary_tokens(view: SummaryView) -> int:
    return messages_tokens([view.summary]) if view.summary is not None else 0


def cut_for_summary(view: SummaryView, limit: float) -> int:
    """How many of the view's oldest history messages to summarise: all but the newest that fit in
    `KEEP_RECENT` of the budget, never leaving a tool result without its call."""
    kept, cut = 0, len(view.history)
    while cut > 0:
        weight = messages_tokens([view.history[cut - 1]])
        if kept + weight > limit * KEEP_RECENT:
            break
        kept += weight
        cut -= 1
    while cut < len(view.history) and view.history[cut]["role"] == "tool":
        cut += 1
    return cut


def summary_request(view: SummaryView, cut: int, limit: float) -> list[Message]:
    """The summary call's messages: the instructions, then the earlier summary and the messages to fold
    in as one transcript, cut to the budget (the newest part kept)."""
    instructions: list[Message] = [{"role": "system", "content": SUMMARY_INSTRUCTIONS}]
    lines = [f"Earlier summary: {text_of(view.summary.get('content'))}"] if view.summary else []
    for message in view.history[:cut]:
        text = text_of(message.get("content"))
        calls = message.get("tool_calls") or []
        if calls:
            named = (f"[calls {call['function']['name']}({call['function']['arguments']})]" for call in calls)
            text += " " + "; ".join(named)
        lines.append(f"{message['role']}: {text}")
    transcript = "\n".join(lines)
    most = int((limit - messages_tokens(instructions) - summary_tokens(limit)) * CHARS_PER_TOKEN * 0.8)
    if len(transcript) > most:
        transcript = transcript[-most:]
    return [*instructions, {"role": "user", "content": transcript}]


def stored_index(history: list[Message], first_index: int, skipped: int) -> int:
    """The stored-history index of the view's message number `skipped` (summaries are not in views)."""
    index = first_index
    while index < len(history) and (skipped > 0 or is_summary(history[index])):
        if not is_summary(history[index]):
            skipped -= 1
        index += 1
    return index


def summary_tokens(limit: float) -> int:
    return max(16, min(SUMMARY_MAX_TOKENS, int(limit * SUMMARY_SHARE)))


def summary_message(text: str, covers: int) -> Message:
    metadata: dict[str, Any] = {SUMMARY_KEY: {"summarizes": covers}}
    return {"role": "system", "content": text, "metadata": metadata}


@dataclass(frozen=True, slots=True)
class Summarized:
    """The window and the messages of a turn's first call after "summarize", and the summary call's bill."""

    window: Window
    messages: list[Message]
    call: ModelCall | None = None


class Summaries:
    """Applies "summarize" to a turn before its first model call: reuses the stored summary, and writes
    a new one (one model call, billed to the turn) when the history sent passes the threshold."""

    def __init__(
        self, models: ModelCaller, budget: ContextBudget, bill: Callable[[str, ModelReply], ModelCall]
    ) -> None:
        self.models = models
        self.budget = budget
        self.bill = bill

    async def apply(
        self,
        window: Window,
        history: list[Message],
        prompt: list[Message],
        messages: list[Message],
        request: ModelRequest,
        adapter: ChatProvider,
    ) -> Summarized:
        """`messages` (the prompt, `history`, then the turn's input) as the first call sends them."""
        policy = window.policy
        assert policy is not None
        view = view_of(history)
        limit = policy.limit / self.budget.ratio(policy.model) - window.tool_tokens
        after_history = messages[len(prompt) + len(history) :]
        fixed = messages_tokens(prompt) + messages_tokens(after_history)
        written: Message | None = None
        bill: ModelCall | None = None
        if needs_summary(view, fixed, limit):
            cut = cut_for_summary(view, limit)
            if cut > 0:
                call = replace(
                    request,
                    model=policy.summary_model or request.model,
                    messages=summary_request(view, cut, limit),
                    tools=[],
                    max_tokens=summary_tokens(limit),
                    thinking_budget_tokens=None,
                )
                reply = await self.models.complete(adapter, call, [])
                bill = self.bill(request.provider, reply)
                covers = stored_index(history, view.first_index, cut)
                text = text_of(reply.message.get("content"))[: summary_tokens(limit) * CHARS_PER_TOKEN]
                written = summary_message(text, covers)
                sent: Message = {"role": "system", "content": written.get("content")}
                view = SummaryView(sent, view.history[cut:], covers, len(history))
        window = replace(window, first_seen=view.first_index)
        if view.summary is None:
            return Summarized(window, messages, bill)
        window = replace(
            window,
            summary=written,
            summary_index=view.summary_index,
            head=len(prompt) + 1,
            history_sent=len(view.history),
        )
        return Summarized(window, [*prompt, view.summary, *view.history, *after_history], bill)


def context_window(window: Window, history: list[Message]) -> dict[str, Any] | None:
    """`Chat.contextWindow`: where the history the model saw starts, and the summary it saw instead of
    the messages before (None when the model saw the whole conversation)."""
    if not window.dropped and window.summary_index is None:
        return None
    if window.summary_index is None:
        first = window.dropped
    else:
        first = stored_index(history, window.first_seen, window.dropped)
    shown: dict[str, Any] = {"firstMessageIndex": first}
    if window.summary_index is not None:
        shown["summaryIndex"] = window.summary_index
    return shown
