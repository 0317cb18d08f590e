"""Embeddings: texts to vectors over HTTP, for knowledge-base search.

Two wire formats: OpenAI's `POST {base}/embeddings` (OpenAI and every OpenAI-compatible provider that serves
it) and Gemini's `models/{model}:batchEmbedContents`. Endpoints and keys come from the same registry as chat
(`ProviderRegistry.endpoint`: an org's credential, else the environment), so an org that chats with a
provider embeds with it too. Requests are batched (at most `batch_size` texts each, the providers' own
limits), texts are cut to `MAX_TEXT_CHARS`, every request has a timeout and a bounded answer, and failures
are the providers' domain errors (`UpstreamError`, `UpstreamTimeout`).

Vectors are asked for with `dimensions` values where the model can shorten them (OpenAI's text-embedding-3
models, Gemini's `outputDimensionality`): 256 by default, which keeps stored vectors at 1 KiB each and
search fast; `dimensions=None` takes the model's own size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from chatloom.domain.errors import InvalidRequest, UpstreamError
from chatloom.domain.tokens import text_chars
from chatloom.providers.base import ModelRequest
from chatloom.providers.google import API_VERSION, VERSIONED_BASE
from chatloom.providers.google import request_headers as google_headers
from chatloom.providers.http_transport import HttpSession, token_count, unexpected_shape
from chatloom.providers.openai_compat import request_headers as openai_headers
from chatloom.providers.registry import SPECS, ProviderRegistry

DEFAULT_DIMENSIONS = 256
MAX_TEXTS = 20_000
"""Texts one `embed` call takes (a file's passages)."""
MAX_TEXT_CHARS = 8_000
"""A longer text is cut: embedding models take about 8,000 tokens, and passages are far shorter."""
OPENAI_BATCH = 256
GOOGLE_BATCH = 100
"""Gemini's `batchEmbedContents` takes at most 100 requests."""
TIMEOUT_SECONDS = 60.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024
DEFAULT_MODELS: Mapping[str, str] = {"openai": "text-embedding-3-small", "google": "gemini-embedding-001"}
"""The embedding model of a provider when none is named."""
SHORTENABLE = ("text-embedding-3", "gemini-embedding", "text-embedding-004")
"""Models that accept a requested dimension count (others answer with their own size)."""


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    """Vectors in the order of the texts, the tokens the provider billed (or an estimate when it reports
    none), and the model that made them."""

    vectors: list[list[float]]
    prompt_tokens: int
    model: str


class Embedder(Protocol):
    provider: str
    model: str

    async def embed(self, texts: list[str]) -> EmbeddingResult:
        """One vector per text, in order."""
        ...


def estimated_tokens(texts: Sequence[str]) -> int:
    """About four characters a token, as `domain.tokens` counts chat text."""
    return sum(max(1, -(-text_chars(text) // 4)) for text in texts)


class HttpEmbedder:
    """What both wire formats share: batching, bounds and the request each batch is sent as."""

    batch_size = OPENAI_BATCH

    def __init__(
        self,
        http: HttpSession,
        provider: str,
        model: str,
        base_url: str,
        api_key: str | None,
        headers: Mapping[str, str] | None = None,
        dimensions: int | None = DEFAULT_DIMENSIONS,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        if dimensions is not None and not 1 <= dimensions <= 4096:
            raise ValueError("dimensions must be 1 to 4096")
        self.provider, self.model = provider, model
        self._http = http
        self._dimensions = dimensions if model.startswith(SHORTENABLE) else None
        self._request = ModelRequest(
            provider=provider,
            model=model,
            messages=[],
            base_url=base_url,
            api_key=api_key,
            headers=dict(headers or {}),
            timeout_seconds=timeout_seconds,
            max_answer_bytes=MAX_ANSWER_BYTES,
        )

    async def embed(self, texts: list[str]) -> EmbeddingResult:
        if len(texts) > MAX_TEXTS:
            raise ValueError(f"at most {MAX_TEXTS} texts are embedded at once")
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(texts), self.batch_size):
            batch = [text[:MAX_TEXT_CHARS] or " " for text in texts[start : start + self.batch_size]]
            found, used = await self._batch(batch)
            if len(found) != len(batch):
                raise UpstreamError(f"{self.provider} answered {len(found)} vectors for {len(batch)} texts")
            vectors.extend(found)
            tokens += used
        return EmbeddingResult(vectors, tokens, self.model)

    async def _batch(self, texts: list[str]) -> tuple[list[list[float]], int]:
        raise NotImplementedError

    def _vector(self, value: Any) -> list[float]:
        if (
            not isinstance(value, list)
            or not value
            or len(value) > 4096
            or not all(isinstance(item, int | float) and not isinstance(item, bool) for item in value)
        ):
            raise unexpected_shape(self._request, value)
        return [float(item) for item in value]


class OpenAIEmbedder(HttpEmbedder):
    """`POST {base}/embeddings` with `input` as a list of texts."""

    async def _batch(self, texts: list[str]) -> tuple[list[list[float]], int]:
        request = self._request
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self._dimensions is not None:
            body["dimensions"] = self._dimensions
        url = f"{request.base_url.rstrip('/')}/embeddings"
        data = await self._http.post(url, body, openai_headers(request), request)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise unexpected_shape(request, data)
        objects = [item for item in items if isinstance(item, dict)]
        ordered = sorted(objects, key=lambda item: token_count(item.get("index")))
        vectors = [self._vector(item.get("embedding")) for item in ordered]
        usage = data.get("usage")
        tokens = token_count(usage.get("prompt_tokens")) if isinstance(usage, dict) else 0
        return vectors, tokens or estimated_tokens(texts)


class GoogleEmbedder(HttpEmbedder):
    """Gemini's `models/{model}:batchEmbedContents`, one request per text."""

    batch_size = GOOGLE_BATCH

    async def _batch(self, texts: list[str]) -> tuple[list[list[float]], int]:
        request = self._request
        base = request.base_url.rstrip("/")
        if not VERSIONED_BASE.search(base):
            base = f"{base}/{API_VERSION}"
        model = self.model if "/" in self.model else f"models/{self.model}"
        one: dict[str, Any] = {"model": model}
        if self._dimensions is not None:
            one["outputDimensionality"] = self._dimensions
        body = {"requests": [{**one, "content": {"parts": [{"text": text}]}} for text in texts]}
        url = f"{base}/{quote(model, safe='/')}:batchEmbedContents"
        data = await self._http.post(url, body, google_headers(request), request)
        items = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise unexpected_shape(request, data)
        vectors = [self._vector(item.get("values") if isinstance(item, dict) else None) for item in items]
        usage = data.get("usageMetadata")
        tokens = token_count(usage.get("promptTokenCount")) if isinstance(usage, dict) else 0
        return vectors, tokens or estimated_tokens(texts)


DIALECTS = {spec.name: spec.dialect for spec in SPECS}


class Embeddings:
    """Makes embedders for an org's provider and model, on one shared HTTP session."""

    def __init__(self, registry: ProviderRegistry, max_connections: int = 100) -> None:
        self._registry = registry
        self._http = HttpSession(max_connections)

    def embedder(
        self,
        provider: str,
        model: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = DEFAULT_DIMENSIONS,
    ) -> Embedder:
        """An embedder of `provider`'s `model` (default: the provider's usual one), with the key of the org's
        credential when given. Raises a 400-class error for a provider without embeddings here."""
        dialect = DIALECTS.get(provider)
        name = model or DEFAULT_MODELS.get(provider)
        if dialect not in ("openai", "google") or name is None:
            raise InvalidRequest(
                f"provider '{provider}' has no embedding model here (name one of an OpenAI-compatible "
                "provider, or use openai or google)",
                field="provider",
            )
        endpoint = self._registry.endpoint(provider, api_key=api_key)
        kind = GoogleEmbedder if dialect == "google" else OpenAIEmbedder
        return kind(self._http, provider, name, endpoint.base_url, endpoint.api_key, dimensions=dimensions)

    async def aclose(self) -> None:
        await self._http.aclose()
