"""PriceBook: published per-million rates from genai-prices, overrides, unknown models."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import genai_prices
import pytest

from chatloom.domain.usage import Usage
from chatloom.engine.calls.pricing import PRICE_DATA_SOURCE, ModelPrice, PriceBook

# A fixed request time keeps the pinned prices independent of announced future price changes.
AT = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)


def test_price_data_source_names_the_installed_genai_prices() -> None:
    # Read from the installed package, so an upgrade in the lock files cannot leave it naming another
    # release; an upgrade that changes a price fails the pinned prices below instead.
    assert f"genai-prices {version('genai-prices')} (github.com/pydantic/genai-prices)" == PRICE_DATA_SOURCE


def test_gpt_4o_mini_bills_cached_prompt_tokens_at_the_cached_rate() -> None:
    # gpt-4o-mini: input $0.15/M, cached input $0.075/M, output $0.60/M.
    usage = Usage(prompt_tokens=1000, cached_prompt_tokens=200, completion_tokens=500)
    # 800 * 0.15 + 200 * 0.075 + 500 * 0.60 = 435 per million
    assert PriceBook().cost("openai", "gpt-4o-mini", usage, at=AT) == 0.000435


def test_claude_haiku_bills_cache_reads_and_writes() -> None:
    # claude-3-5-haiku: input $0.80/M, cache read $0.08/M, cache write $1/M, output $4/M.
    usage = Usage(
        prompt_tokens=3000, cached_prompt_tokens=1000, cache_write_tokens=500, completion_tokens=400
    )
    # 1500 * 0.8 + 1000 * 0.08 + 500 * 1 + 400 * 4 = 3380 per million
    book = PriceBook()
    assert book.cost("anthropic", "claude-3-5-haiku-latest", usage, at=AT) == 0.00338
    assert book.cost("anthropic", "claude-3-5-haiku-20241022", usage, at=AT) == 0.00338


def test_claude_sonnet_long_prompts_use_the_higher_tier() -> None:
    # claude-sonnet-4-5: $3/M in, $15/M out; above 200k prompt tokens $6/M in, $22.50/M out.
    book = PriceBook()
    short = Usage(prompt_tokens=200_000, completion_tokens=1000)
    long = Usage(prompt_tokens=200_001, completion_tokens=1000)
    assert book.cost("anthropic", "claude-sonnet-4-5", short, at=AT) == 0.615  # 600k + 15k per million
    assert book.cost("anthropic", "claude-sonnet-4-5", long, at=AT) == 1.222506  # 1,200,006 + 22,500


def test_gemini_flash_prices() -> None:
    # gemini-2.0-flash: input $0.10/M, cached $0.025/M, output $0.40/M.
    usage = Usage(prompt_tokens=10_000, cached_prompt_tokens=2000, completion_tokens=1000)
    # 8000 * 0.1 + 2000 * 0.025 + 1000 * 0.4 = 1250 per million
    assert PriceBook().cost("google", "gemini-2.0-flash", usage, at=AT) == 0.00125
    # gemini-2.5-flash: input $0.30/M, output $2.50/M; thinking tokens are billed as output.
    thinking = Usage(prompt_tokens=10_000, completion_tokens=2000, reasoning_tokens=1500)
    assert PriceBook().cost("google", "gemini-2.5-flash", thinking, at=AT) == 0.008


def test_time_of_day_prices_follow_the_request_time() -> None:
    # deepseek-chat: $0.27/M in, $1.10/M out 00:30-16:30 UTC; $0.135/M and $0.55/M otherwise.
    book = PriceBook()
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    assert book.cost("deepseek", "deepseek-chat", usage, at=datetime(2026, 11, 26, 3, tzinfo=UTC)) == 1.37
    assert book.cost("deepseek", "deepseek-chat", usage, at=datetime(2026, 11, 26, 20, tzinfo=UTC)) == 0.685


def test_per_request_fees_are_added() -> None:
    # perplexity sonar: $1/M in, $1/M out, $12 per 1000 requests.
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    assert PriceBook().cost("perplexity-ai", "sonar", usage, at=AT) == 0.014


@pytest.mark.parametrize(
    ("provider", "model", "genai_provider"),
    [
        ("openai", "gpt-4o-mini", "openai"),
        ("anthropic", "claude-sonnet-4-5", "anthropic"),
        ("google", "gemini-2.5-pro", "google"),
        ("groq", "llama-3.3-70b-versatile", "groq"),
        ("together-ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "together"),
        ("xai", "grok-3", "x-ai"),
        ("mistral", "mistral-large-latest", "mistral"),
        ("deepseek", "deepseek-chat", "deepseek"),
        ("perplexity-ai", "sonar-deep-research", "perplexity"),
        ("openrouter", "openai/gpt-4o-mini", "openrouter"),
    ],
)
@pytest.mark.parametrize(
    "usage",
    [
        Usage(prompt_tokens=1234, cached_prompt_tokens=234, completion_tokens=567),
        Usage(
            prompt_tokens=250_000, cached_prompt_tokens=1000, cache_write_tokens=3000, completion_tokens=700
        ),
        Usage(prompt_tokens=5000, cache_write_tokens=1000, completion_tokens=100, reasoning_tokens=50),
    ],
)
def test_costs_match_genai_prices_own_calculation(
    provider: str, model: str, genai_provider: str, usage: Usage
) -> None:
    expected = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=usage.prompt_tokens,
            cache_read_tokens=usage.cached_prompt_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            output_tokens=usage.completion_tokens,
            output_reasoning_tokens=usage.reasoning_tokens,
        ),
        model,
        provider_id=genai_provider,
        genai_request_timestamp=AT,
    ).total_price
    ours = PriceBook().cost(provider, model, usage, at=AT)
    assert abs(Decimal(repr(ours)) - expected) < Decimal("1e-11")


def test_unknown_models_cost_nothing_and_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    book = PriceBook()
    usage = Usage(prompt_tokens=100, completion_tokens=100)
    with caplog.at_level(logging.WARNING, logger="chatloom.pricing"):
        for _ in range(3):
            assert book.cost("custom-llm", "my-local-model", usage) == 0.0
            assert book.cost("openai", "no-such-model", usage) == 0.0
            assert book.cost("deepinfra", "meta-llama/Llama-3.3-70B-Instruct", usage) == 0.0
    messages = [record.getMessage() for record in caplog.records if record.name == "chatloom.pricing"]
    assert len(messages) == 3
    assert all("no known price" in message and "cost 0" in message for message in messages)
    assert any("'my-local-model'" in message and "'custom-llm'" in message for message in messages)


def test_overrides_win_over_the_package_data() -> None:
    book = PriceBook(
        {"openai/gpt-4o-mini": ModelPrice(input=1.0, cached_input=0.5, output=2.0, cache_write=3.0)}
    )
    usage = Usage(prompt_tokens=1000, cached_prompt_tokens=200, cache_write_tokens=100, completion_tokens=500)
    # 700 * 1 + 200 * 0.5 + 100 * 3 + 500 * 2 = 2100 per million
    assert book.cost("openai", "gpt-4o-mini", usage) == 0.0021
    assert book.cost("openai", "gpt-4o", usage) > 0  # other models still come from the package


def test_overrides_price_models_the_package_does_not_know() -> None:
    book = PriceBook({"custom-llm/llama-3-8b": ModelPrice(input=0.2, output=0.4)})
    usage = Usage(
        prompt_tokens=1000, cached_prompt_tokens=500, cache_write_tokens=100, completion_tokens=1000
    )
    # cached input and cache writes default to the input rate: 1000 * 0.2 + 1000 * 0.4 = 600 per million
    assert book.cost("custom-llm", "llama-3-8b", usage) == 0.0006


def test_from_file_reads_overrides(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "openai/gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6},
                "custom-llm/local": {"input": 1, "output": 1},
            }
        )
    )
    book = PriceBook.from_file(path)
    usage = Usage(prompt_tokens=1000, cached_prompt_tokens=200, completion_tokens=500)
    assert book.cost("openai", "gpt-4o-mini", usage) == 0.000435
    assert book.cost("custom-llm", "local", usage) == 0.0015


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        '{"gpt-4o-mini": {"input": 1, "output": 1}}',
        '{"openai/x": {"input": 1}}',
        '{"openai/x": {"input": -1, "output": 1}}',
        '{"openai/x": {"input": "cheap", "output": 1}}',
        '{"openai/x": {"input": 1, "output": 1, "cached": 0.5}}',
    ],
)
def test_from_file_rejects_malformed_prices(tmp_path: Path, content: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"prices\.json"):
        PriceBook.from_file(path)
