"""Which key and base URL the provider registry gives: a credential's key wins over the environment's;
a base URL override without a key (Ollama, vLLM) means no key at all; neither is a 400 naming both ways."""

from __future__ import annotations

import pytest

from chatloom.domain.errors import ProviderNotConfigured
from chatloom.providers.openai_compat import OpenAICompatibleProvider
from chatloom.providers.registry import ProviderRegistry


def registry(environ: dict[str, str]) -> ProviderRegistry:
    return ProviderRegistry({"openai": OpenAICompatibleProvider()}, environ)


def test_a_credential_key_wins_over_the_environment() -> None:
    endpoint = registry({"OPENAI_API_KEY": "sk-env"}).endpoint("openai", api_key="sk-org")
    assert endpoint.api_key == "sk-org"
    assert registry({"OPENAI_API_KEY": "sk-env"}).endpoint("openai").api_key == "sk-env"


def test_a_local_server_needs_no_key() -> None:
    endpoint = registry({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}).endpoint("openai")
    assert endpoint.api_key is None and endpoint.base_url == "http://127.0.0.1:11434/v1"


def test_no_key_anywhere_names_the_credential_route_and_the_variable() -> None:
    with pytest.raises(ProviderNotConfigured) as raised:
        registry({}).endpoint("groq")
    assert "POST /credential" in str(raised.value) and "GROQ_API_KEY" in str(raised.value)
