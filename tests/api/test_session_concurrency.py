"""Parallel chats on one session are serialized: each turn sees every earlier one, nothing is lost."""

from __future__ import annotations

from chatloom.testing.fake_llm import FakeLLM
from tests.support.client import Api
from tests.support.concurrency import assert_serialized, parallel_session_chats


def test_ten_parallel_chats_on_one_session(api: Api, fake_llm: FakeLLM) -> None:
    fake_llm.default_delay_seconds = 0.05  # each turn takes a while, so the ten really overlap
    assistant = api.create_assistant()
    session = api.post("/session", {"assistantId": assistant["id"]}).json()
    responses = parallel_session_chats([api.base_url], api.key, session["id"], 10)
    assert [r.status_code for r in responses] == [200] * 10, [
        r.text for r in responses if r.status_code != 200
    ]
    assert_serialized(api.get(f"/session/{session['id']}").json(), fake_llm, 10)
    assert api.get("/chat", params={"sessionId": session["id"]}).json()["metadata"]["totalItems"] == 10
