"""A turn's context budget: the model's window, the tokens a turn needs, and what to drop to fit.

Windows come from `model.contextWindowTokens`, else genai-prices' model data, else `DEFAULT_WINDOW`.
Tokens are estimated (`chatloom.domain.tokens`) and scaled per model by the ratio of prompt tokens the
provider reported to our estimate (never below 1: the estimate is only ever made more cautious).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Final, Literal

from chatloom.domain.errors import ContextWindowExceeded
from chatloom.domain.messages import Message
from chatloom.domain.tokens import message_tokens, messages_tokens
from chatloom.engine.calls.pricing import genai_model

log = logging.getLogger("chatloom.context")

Strategy = Literal["truncate", "summarize", "disabled"]
STRATEGIES: Final = ("truncate", "summarize", "disabled")
DEFAULT_WINDOW: Final = 16_384
"""The window assumed for a model neither the assistant nor genai-prices knows."""
MAX_OUTPUT_RESERVE: Final = 4_096
"""Tokens kept free for the answer when the request sets no `maxTokens` (at most a quarter of the window)."""
MAX_CACHED_WINDOWS: Final = 4_096
SHORT_CONVERSATION: Final = 48
"""Up to this many messages, a character count may show at once that a turn fits."""


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    model: str
    strategy: Strategy
    window: int
    reserve: int
    """Tokens kept free for the answer."""
    summary_model: str | None = None

    @property
    def limit(self) -> int:
        """The most prompt tokens a call may send."""
        return self.window - self.reserve


@dataclass(frozen=True, slots=True)
class Fitted:
    messages: list[Message]
    dropped: int
    """How many history messages (the oldest) the model does not see."""
    estimated_tokens: int
    """The calibrated estimate of the prompt sent, or 0 when it was obviously within the window."""


def strategy_of(model: dict[str, Any], truncation: str | None) -> Strategy:
    """The request's `truncation` ("auto" | "disabled") wins over `model.contextManagement.strategy`."""
    if truncation == "disabled":
        return "disabled"
    management = model.get("contextManagement")
    configured = management.get("strategy") if isinstance(management, dict) else None
    if truncation == "auto" and configured != "summarize":
        return "truncate"
    return configured if configured in STRATEGIES else "truncate"


class ContextBudget:
    """Per-process: model windows (cached) and the per-model calibration of the estimate."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], int] = {}
        self._ratios: dict[str, float] = {}
        self._sums = PrefixSums()

    def policy(
        self, provider: str, model: dict[str, Any], max_tokens: int | None, truncation: str | None
    ) -> ContextPolicy:
        name = str(model.get("model"))
        configured = model.get("contextWindowTokens")
        window = int(configured) if configured else self.window_of(provider, name)
        reserve = max_tokens if max_tokens is not None else min(MAX_OUTPUT_RESERVE, window // 4)
        reserve = min(reserve, window // 2)
        management = model.get("contextManagement")
        summary_model = management.get("summaryModel") if isinstance(management, dict) else None
        return ContextPolicy(name, strategy_of(model, truncation), window, reserve, summary_model)

    def window_of(self, provider: str, model: str) -> int:
        key = (provider, model)
        window = self._windows.get(key)
        if window is None:
            window = _known_window(provider, model) or DEFAULT_WINDOW
            if len(self._windows) >= MAX_CACHED_WINDOWS:
                self._windows.clear()
            self._windows[key] = window
        return window

    def ratio(self, model: str) -> float:
        return self._ratios.get(model, 1.0)

    def observe(self, model: str, estimated: int, reported: int) -> None:
        """Moves the model's ratio towards what the provider reported for a prompt we estimated."""
        if estimated <= 0 or reported <= 0:
            return
        seen = min(max(reported / estimated, 1.0), 3.0)
        if len(self._ratios) >= MAX_CACHED_WINDOWS and model not in self._ratios:
            self._ratios.clear()
        self._ratios[model] = 0.8 * self.ratio(model) + 0.2 * seen

    def fit(
        self, policy: ContextPolicy, messages: list[Message], head: int, tail: int, extra_tokens: int = 0
    ) -> Fitted:
        """`messages` (`head` instruction messages, then history, then `tail` messages of this turn) cut
        to the window: under "truncate" the oldest history goes, never splitting a tool call from its
        results (as under "summarize", should its summary not suffice); under "disabled" an overflow is
        a `ContextWindowExceeded`."""
        ratio = self.ratio(policy.model)
        limit = policy.limit / ratio - extra_tokens
        # A cheap upper bound first (a token per character): a short conversation obviously below the
        # window is not counted at all.
        if len(messages) <= SHORT_CONVERSATION and _char_bound(messages) <= limit:
            return Fitted(messages, 0, 0)
        end = len(messages) - tail
        fixed = messages_tokens(messages[:head]) + messages_tokens(messages[end:])
        sums = self._sums.of(messages[head:end])
        total = fixed + sums[-1]
        if total <= limit:
            return Fitted(messages, 0, int((total + extra_tokens) * ratio))
        if policy.strategy == "disabled":
            raise _overflow(policy, int((total + extra_tokens) * ratio))
        if fixed > limit:
            alone = "the instructions and the input alone"
            raise _overflow(policy, int((fixed + extra_tokens) * ratio), what=alone)
        # The fewest oldest history messages to drop: those before the first i with sums[i] >= excess.
        dropped = bisect_left(sums, total - limit)
        while head + dropped < end and messages[head + dropped]["role"] == "tool":
            dropped += 1  # results whose call was dropped go too
        kept = total - sums[dropped]
        fitted = [*messages[:head], *messages[head + dropped :]]
        return Fitted(fitted, dropped, int((kept + extra_tokens) * ratio))


class PrefixSums:
    """Token prefix sums of histories, reused across turns: a conversation's next turn extends the sums
    of its previous one (found by the identity of a message near its end and its position)."""

    LOOK_BACK: Final = 64
    MAX_ENTRIES: Final = 2_048

    def __init__(self) -> None:
        self._sums: dict[tuple[int, int], tuple[Message, list[int]]] = {}

    def of(self, history: list[Message]) -> list[int]:
        """`sums[i]` = the estimated tokens of `history[:i]`."""
        length = len(history)
        start, sums = 0, [0]
        for known in range(length, max(0, length - self.LOOK_BACK), -1):
            entry = self._sums.get((id(history[known - 1]), known))
            if entry is not None and entry[0] is history[known - 1]:
                start, sums = known, list(entry[1])
                break
        for message in history[start:]:
            sums.append(sums[-1] + message_tokens(message))
        if length and start < length:
            if len(self._sums) >= self.MAX_ENTRIES:
                self._sums.clear()
            self._sums[(id(history[-1]), length)] = (history[-1], sums)  # the entry holds the message
        return sums


def _char_bound(messages: list[Message]) -> int:
    """An upper bound of the estimate in tokens: one per character plus the per-message overhead."""
    total = 0
    for message in messages:
        content = message.get("content")
        total += len(content) if isinstance(content, str) else 1 << 30 if content else 0
        if "tool_calls" in message:
            return 1 << 30
    return total + 8 * len(messages)


def _overflow(policy: ContextPolicy, tokens: int, what: str = "the conversation") -> ContextWindowExceeded:
    return ContextWindowExceeded(
        f"{what} needs about {tokens} tokens, more than model {policy.model}'s context window of "
        f"{policy.window} tokens allows ({policy.limit} after reserving {policy.reserve} for the answer); "
        + (
            "shorten the input or raise model.contextWindowTokens"
            if what != "the conversation"
            else 'enable truncation with model.contextManagement.strategy "truncate" (or truncation: '
            '"auto" on /chat/responses), or start a new conversation'
        )
    )


def provider_overflow(policy: ContextPolicy, detail: str) -> ContextWindowExceeded:
    """The provider's own "context length exceeded", named with the window and the way out."""
    return ContextWindowExceeded(
        f"model {policy.model} refused the conversation as longer than its context window ({detail}); "
        f"chatloom assumed a window of {policy.window} tokens: set model.contextWindowTokens to the "
        'model\'s real window, and enable truncation (model.contextManagement.strategy "truncate", or '
        'truncation: "auto" on /chat/responses)'
    )


def _known_window(provider: str, model: str) -> int | None:
    try:
        info = genai_model(provider, model)
    except Exception:  # genai-prices' matching is best effort; a window is not worth a failed turn
        log.warning("no context window for %s %s", provider, model, exc_info=True)
        return None
    window = getattr(info, "context_window", None)
    return int(window) if isinstance(window, int) and window > 0 else None
