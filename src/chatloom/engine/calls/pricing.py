"""What a model call costs in USD: genai-prices' bundled data under operator overrides, cached per model.

Cached and cache-write tokens are subsets of `prompt_tokens`, reasoning tokens of `completion_tokens`.
A model without a known price costs 0.0 and is logged once.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import Final

from genai_prices import data_snapshot
from genai_prices import types as gp

from chatloom.domain.usage import Usage

logger = logging.getLogger("chatloom.pricing")

# Where prices come from: the data bundled with the installed genai-prices release (the lock files pin it),
# its version read from the package's metadata. genai-prices publishes no date for its data: the release
# names it, and the dated price changes it holds (announced ones too) apply from their dates.
PRICE_DATA_SOURCE: Final = f"genai-prices {version('genai-prices')} (github.com/pydantic/genai-prices)"

# Our `model.provider` names → genai-prices provider ids. deepinfra, anyscale and custom-llm have no
# price data there: their models cost 0 unless an override prices them.
PROVIDER_IDS: Final[Mapping[str, str]] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "groq": "groq",
    "together-ai": "together",
    "openrouter": "openrouter",
    "perplexity-ai": "perplexity",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "cerebras": "cerebras",
    "mistral": "mistral",
}

# Distinct (provider, model) pairs kept resolved; model names come from requests, so the cache is bounded.
MAX_CACHED_MODELS: Final = 4096
_PER_MILLION: Final = 1_000_000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPrice:
    """USD per million tokens. Cached input and cache writes cost `input` unless given."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input", "cache_write"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf
            ):
                raise ValueError(f"price {name} must be a non-negative number of USD per million tokens")


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per million tokens of each kind, plus a flat USD fee per call."""

    input: float
    cached_input: float
    cache_write: float
    output: float
    reasoning: float
    per_call: float = 0.0


@dataclass(frozen=True, slots=True)
class _Tiered:
    """Rates for a model, switching to a higher tier when prompt tokens exceed its start."""

    base: _Rates
    tiers: tuple[tuple[int, _Rates], ...] = ()  # highest start first

    def for_prompt(self, prompt_tokens: int) -> _Rates:
        for start, rates in self.tiers:
            if prompt_tokens > start:
                return rates
        return self.base


@dataclass(frozen=True, slots=True)
class _Schedule:
    """Prices that depend on the request time (announced price changes, peak hours)."""

    rules: tuple[tuple[gp.StartDateConstraint | gp.TimeOfDateConstraint, _Tiered], ...]  # last rule first
    default: _Tiered

    def at(self, when: datetime) -> _Tiered:
        for constraint, tiered in self.rules:
            if constraint.active(when):
                return tiered
        return self.default


_Resolved = _Tiered | _Schedule | None


class PriceBook:
    """Prices model calls; overrides (keyed "provider/model") win over genai-prices' data."""

    def __init__(self, overrides: Mapping[str, ModelPrice] | None = None) -> None:
        self._overrides = {key: _tiered_from_override(price) for key, price in (overrides or {}).items()}
        self._resolved: dict[tuple[str, str], _Resolved] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> PriceBook:
        """Overrides from a JSON file: {"openai/gpt-4o-mini": {"input": 0.15, "output": 0.6, ...}, ...}."""
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object of 'provider/model' → prices")
        return cls({key: _override_from_json(path, key, value) for key, value in raw.items()})

    def cost(self, provider: str, model: str, usage: Usage, *, at: datetime | None = None) -> float:
        """USD for one call; `at` (default now) selects time-dependent prices."""
        key = (provider, model)
        try:
            resolved = self._resolved[key]
        except KeyError:
            resolved = self._resolve(provider, model)
        if resolved is None:
            return 0.0
        tiered = resolved.at(at or datetime.now(UTC)) if isinstance(resolved, _Schedule) else resolved
        rates = tiered.for_prompt(usage.prompt_tokens) if tiered.tiers else tiered.base
        cached = usage.cached_prompt_tokens
        written = usage.cache_write_tokens
        reasoning = usage.reasoning_tokens
        uncached = max(usage.prompt_tokens - cached - written, 0)
        answer = max(usage.completion_tokens - reasoning, 0)
        per_million = (
            uncached * rates.input
            + cached * rates.cached_input
            + written * rates.cache_write
            + answer * rates.output
            + reasoning * rates.reasoning
        )
        return round(per_million / _PER_MILLION + rates.per_call, 12)

    def knows(self, provider: str, model: str) -> bool:
        """Whether the model has a price (an override, or genai-prices' data)."""
        key = (provider, model)
        resolved = self._resolved[key] if key in self._resolved else self._resolve(provider, model)
        return resolved is not None

    def _resolve(self, provider: str, model: str) -> _Resolved:
        resolved: _Resolved = self._overrides.get(f"{provider}/{model}")
        if resolved is None:
            resolved = _from_genai_prices(provider, model)
        if resolved is None:
            logger.warning(
                "model %r of provider %r has no known price; its calls cost 0 (add a price override)",
                model,
                provider,
            )
        if len(self._resolved) >= MAX_CACHED_MODELS:
            del self._resolved[next(iter(self._resolved))]
        self._resolved[(provider, model)] = resolved
        return resolved


def _tiered_from_override(price: ModelPrice) -> _Tiered:
    cached = price.input if price.cached_input is None else price.cached_input
    write = price.input if price.cache_write is None else price.cache_write
    return _Tiered(_Rates(price.input, cached, write, price.output, price.output))


def _override_from_json(path: str | Path, key: object, value: object) -> ModelPrice:
    if not isinstance(key, str) or "/" not in key:
        raise ValueError(f"{path}: price key {key!r} must be 'provider/model'")
    if not isinstance(value, dict) or "input" not in value or "output" not in value:
        raise ValueError(f"{path}: {key} needs an object with at least 'input' and 'output'")
    unknown = set(value) - {"input", "output", "cached_input", "cache_write"}
    if unknown:
        raise ValueError(f"{path}: {key} has unknown fields {sorted(unknown)}")
    try:
        return ModelPrice(**value)
    except ValueError as err:
        raise ValueError(f"{path}: {key}: {err}") from err


def genai_model(provider: str, model: str) -> gp.ModelInfo | None:
    """genai-prices' entry for one of our providers' models; None when it has none."""
    provider_id = PROVIDER_IDS.get(provider)
    if provider_id is None:
        return None
    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    return info


def _from_genai_prices(provider: str, model: str) -> _Resolved:
    info = genai_model(provider, model)
    if info is None:
        return None
    if isinstance(info.prices, gp.ModelPrice):
        return _tiered_from_genai(info.prices)
    conditional = info.prices
    if not conditional:
        return None
    rules: list[tuple[gp.StartDateConstraint | gp.TimeOfDateConstraint, _Tiered]] = []
    default = _tiered_from_genai(conditional[0].prices)
    for entry in reversed(conditional):
        tiered = _tiered_from_genai(entry.prices)
        if tiered is None:
            return None
        if entry.constraint is None:
            default = tiered
            break
        rules.append((entry.constraint, tiered))
    if default is None:
        return None
    return _Schedule(tuple(rules), default) if rules else default


_RATE_KEYS: Final = (
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_mtok",
    "output_reasoning_mtok",
)
_Price = Decimal | gp.TieredPrices | None


def _tiered_from_genai(price: gp.ModelPrice) -> _Tiered | None:
    """Flattens per-key tiers into one rate set per tier start (a tier applies above its start)."""
    values: dict[str, _Price] = {key: getattr(price, key) for key in _RATE_KEYS}
    per_request: _Price = price.requests_kcount
    if values["input_mtok"] is None and values["output_mtok"] is None and per_request is None:
        return None
    per_call = float(per_request) / 1000 if isinstance(per_request, Decimal) else 0.0
    starts = sorted(
        {
            tier.start
            for value in values.values()
            if isinstance(value, gp.TieredPrices)
            for tier in value.tiers
        },
        reverse=True,
    )
    base = _rates_at(values, None, per_call)
    return _Tiered(base, tuple((start, _rates_at(values, start, per_call)) for start in starts))


def _rates_at(values: Mapping[str, _Price], start: int | None, per_call: float) -> _Rates:
    def rate(key: str) -> float | None:
        value = values[key]
        if value is None:
            return None
        if isinstance(value, Decimal):
            return float(value)
        applicable = value.base
        if start is not None:
            for tier in value.tiers:
                if tier.start <= start:
                    applicable = tier.price
        return float(applicable)

    input_rate = rate("input_mtok") or 0.0
    output_rate = rate("output_mtok") or 0.0
    cached = rate("cache_read_mtok")
    write = rate("cache_write_mtok")
    reasoning = rate("output_reasoning_mtok")
    return _Rates(
        input=input_rate,
        cached_input=input_rate if cached is None else cached,
        cache_write=input_rate if write is None else write,
        output=output_rate,
        reasoning=output_rate if reasoning is None else reasoning,
        per_call=per_call,
    )
