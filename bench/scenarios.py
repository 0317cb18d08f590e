"""The requests the benchmark makes: chat turns through chatloom (`POST /chat`), the same turns through its
OpenAI-compatible endpoint (`POST /chat/responses`), session turns through `/chat` and through web chat
(`POST /chat/web` with a public key), and the equivalent chat completion sent straight to the fake LLM (the
baseline). Bodies are fixed, so every run sends the same bytes.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from bench.load import JSON_HEADERS, RequestFailed, post_event_stream, post_json, post_stream

MODEL = "gpt-4o-mini"
CUSTOMER_NAME = "Ada"
SYSTEM_PROMPT = (
    "You are a concise, friendly assistant helping {{ name }}. Answer in one or two sentences, "
    "and address {{ name }} by name when it feels natural."
)
USER_INPUT = "Could you remind me what we planned for the garden this weekend, please?"
EXPECTED_REPLY = f"You said: {USER_INPUT}"
CHAIN_TURNS = 20
"""Chained turns: a conversation grows to this many turns, then a new one starts."""

NON_STREAMED = "non-streamed"
STREAMED = "streamed"
RESPONSES_NON_STREAMED = "responses non-streamed"
RESPONSES_STREAMED = "responses streamed"
CHAINED = "chained (previousChatId, ≤20 turns)"
RESPONSES_VS_CHAT = ((NON_STREAMED, RESPONSES_NON_STREAMED), (STREAMED, RESPONSES_STREAMED))
"""Scenario pairs that make the same turn through `/chat` and through `/chat/responses`."""
SESSION_TURNS = "session (/chat + sessionId, ≤20 turns)"
WEB_TURNS = "web (/chat/web, public key, ≤20 turns)"
WEB_VS_CHAT = ((SESSION_TURNS, WEB_TURNS),)
"""Scenario pairs that make the same session turn through `/chat` and through `/chat/web`."""
WEB_ORIGIN = "https://shop.example"


def assistant_body() -> dict[str, Any]:
    """`POST /assistant`: an OpenAI assistant whose system prompt uses a Liquid variable."""
    return {
        "name": "Bench assistant",
        "model": {
            "provider": "openai",
            "model": MODEL,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}],
        },
    }


async def create_assistant(session: aiohttp.ClientSession, url: str, key: str) -> str:
    """Creates the benchmark's assistant; returns its id."""
    headers = {"Authorization": f"Bearer {key}", **JSON_HEADERS}
    created = await post_json(session, f"{url}/assistant", orjson.dumps(assistant_body()), headers, 201)
    return str(created["id"])


class ServerTurns:
    """Chat turns through chatloom, as `load.Request`s: non-streamed, streamed, and chained."""

    def __init__(self, url: str, key: str, assistant_id: str) -> None:
        self.chat_url = f"{url}/chat"
        self.headers = {"Authorization": f"Bearer {key}", **JSON_HEADERS}
        self._first_turn = self._turn_body(assistant_id, stream=False)
        self._plain = orjson.dumps(self._first_turn)
        self._streamed = orjson.dumps(self._turn_body(assistant_id, stream=True))
        self._chains: dict[int, tuple[str, int]] = {}

    @staticmethod
    def _turn_body(assistant_id: str, stream: bool) -> dict[str, Any]:
        return {
            "assistantId": assistant_id,
            "input": USER_INPUT,
            "stream": stream,
            "assistantOverrides": {"variableValues": {"name": CUSTOMER_NAME}},
        }

    async def non_streamed(self, session: aiohttp.ClientSession, worker: int) -> None:
        chat = await post_json(session, self.chat_url, self._plain, self.headers)
        check_reply(chat)

    async def streamed(self, session: aiohttp.ClientSession, worker: int) -> float:
        return await post_stream(session, self.chat_url, self._streamed, self.headers)

    async def chained(self, session: aiohttp.ClientSession, worker: int) -> None:
        """Each worker carries its own conversation: `previousChatId` of its last turn, restarted at 20."""
        previous, length = self._chains.get(worker, ("", CHAIN_TURNS))
        if length >= CHAIN_TURNS:
            body, length = self._plain, 0
        else:
            body = orjson.dumps({"previousChatId": previous, "input": USER_INPUT, "stream": False})
        chat = await post_json(session, self.chat_url, body, self.headers)
        check_reply(chat)
        expected_messages = 2 * length + 1
        if len(chat.get("messages", ())) != expected_messages:
            raise RequestFailed(f"turn {length + 1} of a chain has {len(chat['messages'])} messages")
        self._chains[worker] = (str(chat["id"]), length + 1)

    def reset_chains(self) -> None:
        self._chains.clear()


class SessionTurns:
    """Session turns through `/chat`: each worker carries its own session (`POST /session`, then `sessionId`
    on each turn), restarted after 20 turns."""

    def __init__(self, url: str, key: str, assistant_id: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}", **JSON_HEADERS}
        self._new_session = orjson.dumps(
            {"assistantId": assistant_id, "assistantOverrides": {"variableValues": {"name": CUSTOMER_NAME}}}
        )
        self._sessions: dict[int, tuple[str, int]] = {}

    async def turn(self, session: aiohttp.ClientSession, worker: int) -> None:
        session_id, length = self._sessions.get(worker, ("", CHAIN_TURNS))
        if length >= CHAIN_TURNS:
            created = await post_json(session, f"{self.url}/session", self._new_session, self.headers, 201)
            session_id, length = str(created["id"]), 0
        body = orjson.dumps({"sessionId": session_id, "input": USER_INPUT})
        check_reply(await post_json(session, f"{self.url}/chat", body, self.headers))
        self._sessions[worker] = (session_id, length + 1)

    def reset(self) -> None:
        self._sessions.clear()


OUTPUTS_PLAN = {
    "structuredOutputs": [
        {
            "name": "lead",
            "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        }
    ]
}
"""An inline structured output (a tree without structured outputs keeps it as an unknown field)."""


async def create_assistant_with_outputs(session: aiohttp.ClientSession, url: str, key: str) -> str:
    """The benchmark's assistant with an inline structured output in its `artifactPlan`."""
    headers = {"Authorization": f"Bearer {key}", **JSON_HEADERS}
    body = orjson.dumps({**assistant_body(), "artifactPlan": OUTPUTS_PLAN})
    return str((await post_json(session, f"{url}/assistant", body, headers, 201))["id"])


class SessionEnds:
    """A session created and completed: `POST /session`, then `PATCH /session/{id}` `{"status":
    "completed"}`, the request that queues the session's artifact."""

    def __init__(self, url: str, key: str, assistant_id: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {key}", **JSON_HEADERS}
        self._new_session = orjson.dumps({"assistantId": assistant_id})
        self._complete = orjson.dumps({"status": "completed"})

    async def create_and_complete(self, session: aiohttp.ClientSession, worker: int) -> None:
        created = await post_json(session, f"{self.url}/session", self._new_session, self.headers, 201)
        async with session.patch(
            f"{self.url}/session/{created['id']}", data=self._complete, headers=self.headers
        ) as response:
            if response.status != 200:
                raise RequestFailed(f"PATCH /session answered {response.status}: {await response.text()}")
            await response.read()


class WebTurns:
    """The same session turns through `/chat/web` as a page sends them: a public key restricted to one
    origin, the widget's headers, the session created by the first turn and named by the next ones."""

    def __init__(self, url: str, public_key: str, assistant_id: str) -> None:
        self.url = f"{url}/chat/web"
        self.headers = {
            "Authorization": f"Bearer {public_key}",
            "Origin": WEB_ORIGIN,
            "X-Client-ID": "vapi-widget",
            **JSON_HEADERS,
        }
        self.assistant_id = assistant_id
        self._first = orjson.dumps(self._body(None))
        self._sessions: dict[int, tuple[str, int]] = {}

    def _body(self, session_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"assistantId": self.assistant_id, "input": USER_INPUT}
        if session_id is None:
            body["assistantOverrides"] = {"variableValues": {"name": CUSTOMER_NAME}}
        else:
            body["sessionId"] = session_id
        return body

    async def turn(self, session: aiohttp.ClientSession, worker: int) -> None:
        session_id, length = self._sessions.get(worker, ("", CHAIN_TURNS))
        if length >= CHAIN_TURNS:
            body, length = self._first, 0
        else:
            body = orjson.dumps(self._body(session_id))
        chat = await post_json(session, self.url, body, self.headers)
        check_reply(chat)
        self._sessions[worker] = (str(chat["sessionId"]), length + 1)

    def reset(self) -> None:
        self._sessions.clear()


def check_reply(chat: Any) -> None:
    """A Vapi chat whose first output message is the expected reply."""
    try:
        content = chat["output"][0]["content"]
    except (KeyError, IndexError, TypeError):
        raise RequestFailed(f"unexpected chat: {str(chat)[:300]}") from None
    if content != EXPECTED_REPLY:
        raise RequestFailed(f"unexpected reply: {content[:200]!r}")


RESPONSE_FAILURES = frozenset({b"error", b"response.failed", b"response.incomplete"})


class ResponsesTurns:
    """The `/chat` turn through `POST /chat/responses`: same assistant, input and variable values, so the
    upstream request is the same and only the OpenAI framing differs."""

    def __init__(self, url: str, key: str, assistant_id: str) -> None:
        self.url = f"{url}/chat/responses"
        self.headers = {"Authorization": f"Bearer {key}", **JSON_HEADERS}
        self._plain = orjson.dumps(self._body(assistant_id, stream=False))
        self._streamed = orjson.dumps(self._body(assistant_id, stream=True))

    @staticmethod
    def _body(assistant_id: str, stream: bool) -> dict[str, Any]:
        return {
            "assistantId": assistant_id,
            "input": USER_INPUT,
            "model": MODEL,
            "stream": stream,
            "assistantOverrides": {"variableValues": {"name": CUSTOMER_NAME}},
        }

    async def non_streamed(self, session: aiohttp.ClientSession, worker: int) -> None:
        """`"stream": false`: one OpenAI `Response` whose first output item is the reply."""
        check_response(await post_json(session, self.url, self._plain, self.headers))

    async def streamed(self, session: aiohttp.ClientSession, worker: int) -> float:
        """Reads the OpenAI events to the end; the last must be `response.completed` with the reply.

        Returns when the first `response.output_text.delta` arrived (the first token), not the first
        event: `response.created` is sent before the model is asked.
        """
        stream = await post_event_stream(
            session, self.url, self._streamed, self.headers, b"response.output_text.delta", RESPONSE_FAILURES
        )
        if stream.last_event != b"response.completed":
            raise RequestFailed(f"the stream ended with {stream.last_event!r}, not response.completed")
        check_response(orjson.loads(stream.last_data).get("response"))
        return stream.first


def check_response(response: Any) -> None:
    """An OpenAI `Response` whose first output item's text is the expected reply."""
    try:
        text = response["output"][0]["content"][0]["text"]
    except (KeyError, IndexError, TypeError):
        raise RequestFailed(f"unexpected response: {str(response)[:300]}") from None
    if text != EXPECTED_REPLY:
        raise RequestFailed(f"unexpected reply: {str(text)[:200]!r}")


class DirectTurns:
    """The baseline: the chat completion chatloom would send, sent straight to the fake LLM."""

    def __init__(self, llm_base_url: str) -> None:
        self.url = f"{llm_base_url}/chat/completions"
        self.headers = {"Authorization": "Bearer x", **JSON_HEADERS}
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT.replace("{{ name }}", CUSTOMER_NAME)},
            {"role": "user", "content": USER_INPUT},
        ]
        body: dict[str, Any] = {"model": MODEL, "messages": messages}
        self._plain = orjson.dumps(body)
        self._streamed = orjson.dumps({**body, "stream": True, "stream_options": {"include_usage": True}})

    async def non_streamed(self, session: aiohttp.ClientSession, worker: int) -> None:
        completion = await post_json(session, self.url, self._plain, self.headers)
        if completion["choices"][0]["message"]["content"] != EXPECTED_REPLY:
            raise RequestFailed(f"unexpected completion: {str(completion)[:300]}")

    async def streamed(self, session: aiohttp.ClientSession, worker: int) -> float:
        return await post_stream(session, self.url, self._streamed, self.headers)
