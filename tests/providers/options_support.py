"""Shared by the model-option tests: one FakeLLM speaking every dialect, and a request per provider."""

from __future__ import annotations

import asyncio
from typing import Any

from chatloom.domain.events import ModelReply, TextChunk
from chatloom.providers.anthropic import AnthropicProvider
from chatloom.providers.base import ModelRequest
from chatloom.providers.google import GoogleProvider
from chatloom.providers.http_transport import HttpChatProvider
from chatloom.providers.openai_compat import OpenAICompatibleProvider
from chatloom.testing.fake_llm import FakeLLM

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        },
    },
}
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}


def adapter(provider: str) -> HttpChatProvider:
    if provider == "anthropic":
        return AnthropicProvider()
    if provider == "google":
        return GoogleProvider()
    return OpenAICompatibleProvider()


def request_for(fake: FakeLLM, provider: str, text: str = "Weather?", **overrides: Any) -> ModelRequest:
    fields: dict[str, Any] = {
        "provider": provider,
        "model": MODELS[provider],
        "messages": [{"role": "user", "content": text}],
        "base_url": fake.base_url if provider == "openai" else fake.root_url,
        "api_key": "key-for-tests",
    }
    fields.update(overrides)
    return ModelRequest(**fields)


def call(request: ModelRequest, streamed: bool = False) -> ModelReply:
    """One call through the request's adapter; a stream's final reply."""

    async def run() -> ModelReply:
        provider = adapter(request.provider)
        try:
            if not streamed:
                return await provider.complete(request)
            items: list[TextChunk | ModelReply] = [item async for item in provider.stream(request)]
            final = items[-1]
            assert isinstance(final, ModelReply)
            return final
        finally:
            await provider.aclose()

    return asyncio.run(run())


def sent(request: ModelRequest, fake: FakeLLM, streamed: bool = False) -> dict[str, Any]:
    """The body the adapter sent for `request` (answered by the fake's default reply)."""
    call(request, streamed)
    return fake.requests[-1].json
