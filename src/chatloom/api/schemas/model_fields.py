"""Fields of a model configuration shared by assistants and structured outputs: Vapi's provider names and
a prompt message."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from chatloom.api.schemas.common import Open

ProviderName = Literal[  # Vapi's model providers; which of them chats can use is the registry's call
    "openai",
    "anthropic",
    "anthropic-bedrock",
    "google",
    "groq",
    "together-ai",
    "deepinfra",
    "openrouter",
    "perplexity-ai",
    "anyscale",
    "deepseek",
    "xai",
    "cerebras",
    "mistral",
    "inflection-ai",
    "minimax",
    "custom-llm",
]


class PromptMessage(Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Annotated[str, StringConstraints(max_length=100_000_000)] | None = None
