"""Maps a Vapi `model.provider` to its adapter, endpoint and credentials.

A key given by the caller (an org's or assistant's credential) wins; else it comes from
`<PROVIDER>_API_KEY`. Base URLs come from `<PROVIDER>_BASE_URL` (PROVIDER upper-cased, `-` as `_`); a
server named there may need no key (Ollama, vLLM). custom-llm takes its base URL from the assistant
(`model.url`) and needs no key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chatloom.domain.errors import InvalidRequest, ProviderNotConfigured
from chatloom.providers.base import ChatProvider


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    dialect: str
    default_base_url: str | None
    key_required: bool = True
    endpoint_from_assistant: bool = False
    """The assistant gives the base URL and headers (custom-llm): a user-supplied URL."""
    key_variables: tuple[str, ...] = ()
    """Where the key is read from, in order; by default `<PROVIDER>_API_KEY`."""
    base_url_variables: tuple[str, ...] = ()
    """Where a base URL override is read from, in order; by default `<PROVIDER>_BASE_URL`."""

    @property
    def key_names(self) -> tuple[str, ...]:
        return self.key_variables or (f"{env_prefix(self.name)}_API_KEY",)

    @property
    def base_url_names(self) -> tuple[str, ...]:
        return self.base_url_variables or (f"{env_prefix(self.name)}_BASE_URL",)


OPENAI_COMPATIBLE: tuple[ProviderSpec, ...] = (
    ProviderSpec("openai", "openai", "https://api.openai.com/v1"),
    ProviderSpec("groq", "openai", "https://api.groq.com/openai/v1"),
    ProviderSpec("together-ai", "openai", "https://api.together.xyz/v1"),
    ProviderSpec("deepinfra", "openai", "https://api.deepinfra.com/v1/openai"),
    ProviderSpec("openrouter", "openai", "https://openrouter.ai/api/v1"),
    ProviderSpec("perplexity-ai", "openai", "https://api.perplexity.ai"),
    ProviderSpec("anyscale", "openai", "https://api.endpoints.anyscale.com/v1"),
    ProviderSpec("deepseek", "openai", "https://api.deepseek.com/v1"),
    ProviderSpec("xai", "openai", "https://api.x.ai/v1"),
    ProviderSpec("cerebras", "openai", "https://api.cerebras.ai/v1"),
    ProviderSpec("mistral", "openai", "https://api.mistral.ai/v1"),
    ProviderSpec("custom-llm", "openai", None, key_required=False, endpoint_from_assistant=True),
)
NATIVE: tuple[ProviderSpec, ...] = (
    ProviderSpec("anthropic", "anthropic", "https://api.anthropic.com"),
    ProviderSpec(
        "google",
        "google",
        "https://generativelanguage.googleapis.com",
        key_variables=("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        base_url_variables=("GOOGLE_GEMINI_BASE_URL", "GOOGLE_BASE_URL"),
    ),
)
SPECS: tuple[ProviderSpec, ...] = OPENAI_COMPATIBLE + NATIVE


def env_prefix(provider: str) -> str:
    return provider.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Everything needed to call one provider: its adapter, base URL, key and extra headers."""

    adapter: ChatProvider
    base_url: str
    api_key: str | None
    headers: Mapping[str, str]
    user_supplied: bool = False
    """The base URL came from the assistant, so it must pass the outbound URL guard."""


class ProviderRegistry:
    def __init__(self, adapters: Mapping[str, ChatProvider], environ: Mapping[str, str]) -> None:
        """`adapters` maps a dialect ("openai", ...) or a provider name (which wins) to its adapter;
        `environ` holds keys and base URLs."""
        self._adapters = dict(adapters)
        self._environ = environ
        self._specs = {spec.name: spec for spec in SPECS if spec.dialect in self._adapters}

    @property
    def providers(self) -> list[str]:
        return sorted(self._specs)

    def endpoint(
        self,
        provider: str,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
    ) -> Endpoint:
        """The endpoint for `provider`; `url` and `headers` are the assistant's, used only by providers
        whose endpoint the assistant names (custom-llm); `api_key` is a credential's key, which wins over
        the environment's. Raises a 400-class error naming what is missing."""
        spec = self._specs.get(provider)
        if spec is None:
            raise InvalidRequest(
                f"model.provider '{provider}' is not supported by this server for chats "
                f"(supported: {', '.join(self.providers)})",
                field="model.provider",
            )
        key = api_key or self._first(spec.key_names)
        base_url_override = self._first(spec.base_url_names)
        if spec.key_required and not key and not base_url_override:
            raise ProviderNotConfigured(provider, " or ".join(spec.key_names))
        adapter = self._adapters.get(spec.name) or self._adapters[spec.dialect]
        if spec.endpoint_from_assistant:
            if not url:
                raise InvalidRequest(f"model.url is required for provider '{provider}'", field="model.url")
            return Endpoint(adapter, url, key, headers or {}, user_supplied=True)
        base_url = base_url_override or spec.default_base_url
        assert base_url is not None, f"provider {provider} has no default base URL"
        return Endpoint(adapter, base_url, key, {})

    def _first(self, names: tuple[str, ...]) -> str | None:
        return next((self._environ[name] for name in names if self._environ.get(name)), None)

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
