"""The OpenAI Agents SDK (`openai-agents`, pinned in the test lock) runs unchanged against chatloom: given
only a base URL and a key (the org's model answers directly), and again with a chatloom assistant passed
through the model settings' extra body. Function tools (non-streamed and streamed), structured output, a
hand-off and `OpenAIConversationsSession` over three turns.

The fake LLM decides by what it is sent: `call:<tool>` in the user's text calls that tool, tool results are
answered "Tool said: <results>", and a JSON schema is answered with a valid instance of it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIConversationsSession,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    function_tool,
)
from pydantic import BaseModel

from chatloom.testing.fake_llm import FakeLLM
from tests.support.client import Api

RUN = RunConfig(tracing_disabled=True)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "7C, rain"


@function_tool
def get_time(city: str) -> str:
    """The local time in a city."""
    return "14:00"


class Forecast(BaseModel):
    city: str
    temp_c: float


class Setup:
    """How the agents reach chatloom: a client with the base URL and key, and the model settings."""

    def __init__(self, api: Api, extra_body: dict[str, Any] | None) -> None:
        self.client = openai.AsyncOpenAI(base_url=f"{api.base_url}/chat", api_key=api.key, max_retries=0)
        self.model = OpenAIResponsesModel("gpt-4o-mini", openai_client=self.client)
        self.settings = ModelSettings(extra_body=extra_body)

    def agent(self, name: str, instructions: str, **kwargs: Any) -> Agent[Any]:
        return Agent(
            name=name, instructions=instructions, model=self.model, model_settings=self.settings, **kwargs
        )


@pytest.fixture(params=["direct", "assistant"])
def setup(request: pytest.FixtureRequest, api: Api) -> Iterator[Setup]:
    extra_body = None
    if request.param == "assistant":
        extra_body = {"assistantId": api.create_assistant()["id"]}
    yield Setup(api, extra_body)


def sent_tool_names(fake_llm: FakeLLM, index: int) -> set[str]:
    return {tool["function"]["name"] for tool in fake_llm.requests[index].json.get("tools", [])}


def test_two_function_tools(setup: Setup, fake_llm: FakeLLM, api: Api) -> None:
    agent = setup.agent("Helper", "Use the tools.", tools=[get_weather, get_time])
    question = "Weather and time in Oslo? call:get_weather call:get_time"

    async def both() -> tuple[Any, Any, list[str]]:
        plain = await Runner.run(agent, question, run_config=RUN)
        run = Runner.run_streamed(agent, question, run_config=RUN)
        kinds = [event.type async for event in run.stream_events()]
        return plain, run, kinds

    result, streamed, kinds = asyncio.run(both())
    assert result.final_output == "Tool said: 7C, rain, 14:00"
    assert sent_tool_names(fake_llm, 0) >= {"get_weather", "get_time"}
    assert chat_of(api, result.last_response_id)["cost"] > 0
    assert streamed.final_output == "Tool said: 7C, rain, 14:00"
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    last = fake_llm.requests[-1].json["messages"]
    assert [m["content"] for m in last if m["role"] == "tool"] == ["7C, rain", "14:00"]
    assert fake_llm.requests[-1].json["stream"] is True


def chat_of(api: Api, response_id: str | None) -> dict[str, Any]:
    response = api.get(f"/chat/{response_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_structured_output(setup: Setup, fake_llm: FakeLLM) -> None:
    agent = setup.agent("Forecaster", "Give the forecast.", output_type=Forecast)
    result = asyncio.run(Runner.run(agent, "Oslo?", run_config=RUN))
    assert isinstance(result.final_output, Forecast)
    assert fake_llm.requests[-1].json["response_format"]["type"] == "json_schema"


def test_handoff(setup: Setup, fake_llm: FakeLLM) -> None:
    spanish = setup.agent("Spanish agent", "Answer in Spanish.")
    triage = setup.agent("Triage", "Hand Spanish speakers over.", handoffs=[spanish])
    result = asyncio.run(Runner.run(triage, "Hola! call:transfer_to_spanish_agent", run_config=RUN))
    assert result.last_agent is spanish
    system = [m["content"] for m in fake_llm.requests[-1].json["messages"] if m["role"] == "system"]
    assert any("Answer in Spanish." in text for text in system)
    assert sent_tool_names(fake_llm, -2) == {"transfer_to_spanish_agent"}


def test_conversations_session_over_three_turns(setup: Setup, fake_llm: FakeLLM) -> None:
    agent = setup.agent("Memory", "Remember.")

    async def three_turns() -> tuple[list[str], list[Any]]:
        session = OpenAIConversationsSession(openai_client=setup.client)
        outputs = []
        for text in ("first", "second", "third"):
            result = await Runner.run(agent, text, session=session, run_config=RUN)
            outputs.append(result.final_output)
        return outputs, await session.get_items()

    outputs, items = asyncio.run(three_turns())
    assert outputs == ["You said: first", "You said: second", "You said: third"]
    user_texts = [m["content"] for m in fake_llm.requests[-1].json["messages"] if m["role"] == "user"]
    assert user_texts == ["first", "second", "third"]
    assert len(items) == 6
