"""The context budget's arithmetic: windows, cached counts that agree with fresh ones, and safe cuts."""

from __future__ import annotations

import pytest

from chatloom.domain.errors import ContextWindowExceeded
from chatloom.domain.messages import Message
from chatloom.domain.tokens import messages_tokens
from chatloom.engine.context.budget import DEFAULT_WINDOW, ContextBudget, strategy_of


def conversation(turns: int) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": "Be brief."}]
    for turn in range(turns):
        call = {"id": f"c{turn}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        messages.append({"role": "user", "content": f"question {turn} " * 5})
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})  # type: ignore[list-item]
        messages.append({"role": "tool", "tool_call_id": f"c{turn}", "content": "result " * 5})
        messages.append({"role": "assistant", "content": f"answer {turn} " * 5})
    return messages


def test_windows_come_from_the_assistant_the_price_data_or_the_default() -> None:
    budget = ContextBudget()
    assert budget.policy("openai", {"model": "gpt-4o"}, None, None).window == 128_000
    assert budget.policy("openai", {"model": "gpt-4o", "contextWindowTokens": 999}, None, None).window == 999
    assert budget.policy("custom-llm", {"model": "mine"}, None, None).window == DEFAULT_WINDOW
    policy = budget.policy("openai", {"model": "gpt-4o"}, 1000, None)
    assert policy.reserve == 1000 and policy.limit == 127_000


def test_the_request_truncation_wins_over_the_assistant() -> None:
    assert strategy_of({"contextManagement": {"strategy": "disabled"}}, "auto") == "truncate"
    assert strategy_of({}, "disabled") == "disabled"
    assert strategy_of({"contextManagement": {"strategy": "summarize"}}, None) == "summarize"
    assert strategy_of({}, None) == "truncate"


@pytest.mark.parametrize("window", [300, 400, 517, 800])
def test_cuts_fit_never_orphan_a_tool_result_and_agree_when_cached(window: int) -> None:
    budget = ContextBudget()
    policy = budget.policy("openai", {"model": "m", "contextWindowTokens": window}, None, None)
    history = conversation(30)
    for grown in range(20, 30):
        messages = [*history[: 1 + 4 * grown], {"role": "user", "content": "now"}]
        fitted = budget.fit(policy, messages, 1, 1)
        again = ContextBudget().fit(policy, list(messages), 1, 1)  # nothing cached
        assert fitted.dropped == again.dropped and fitted.messages == again.messages
        assert messages_tokens(fitted.messages) <= policy.limit
        assert fitted.messages[0]["role"] == "system" and fitted.messages[-1]["content"] == "now"
        assert fitted.messages[1]["role"] != "tool"


def test_disabled_refuses_and_an_oversized_input_is_refused_whatever_the_strategy() -> None:
    budget = ContextBudget()
    disabled = budget.policy("openai", {"model": "m", "contextWindowTokens": 300}, None, "disabled")
    with pytest.raises(ContextWindowExceeded, match="context window of 300 tokens"):
        budget.fit(disabled, conversation(20), 1, 0)
    truncate = budget.policy("openai", {"model": "m", "contextWindowTokens": 300}, None, None)
    with pytest.raises(ContextWindowExceeded, match="the input alone"):
        budget.fit(truncate, [{"role": "user", "content": "x" * 4000}], 0, 1)
