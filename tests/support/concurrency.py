"""Fires many chats at one session at once and checks they were serialized with nothing lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from chatloom.testing.fake_llm import FakeLLM


def parallel_session_chats(
    base_urls: list[str], key: str, session_id: str, count: int
) -> list[httpx.Response]:
    """`count` chats on `session_id` at once, spread over the given servers."""

    def one(index: int) -> httpx.Response:
        url = base_urls[index % len(base_urls)]
        body = {"sessionId": session_id, "input": f"input-{index}"}
        return httpx.post(f"{url}/chat", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def assert_serialized(session: dict[str, Any], fake: FakeLLM, count: int) -> None:
    """Every input once, each answered right after it, and the model saw 0, 1, ..., count-1 prior turns."""
    messages = session["messages"]
    assert len(messages) == 2 * count
    inputs = [m["content"] for m in messages[0::2]]
    assert sorted(inputs) == sorted(f"input-{i}" for i in range(count)), inputs
    for question, answer in zip(messages[0::2], messages[1::2], strict=True):
        assert question["role"] == "user" and answer["role"] == "assistant"
        assert answer["content"] == f"You said: {question['content']}"
    prior_turns = sorted(
        sum(1 for m in request.json["messages"] if m["role"] == "user") - 1
        for request in fake.requests
        if any(str(m.get("content", "")).startswith("input-") for m in request.json["messages"])
    )
    assert prior_turns == list(range(count)), prior_turns
