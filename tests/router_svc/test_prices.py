"""Which models are unpriced, and the cache rates of a configured price (issue 16, "Billing"):
one rule, every rate of input and output either configured or known to genai-prices (a price
known to be 0 is a price), warned at start; a cache rate not configured follows a configured
input price instead of mixing in list rates. genai-prices' bundled table is the real one."""

from __future__ import annotations

import logging

import pytest

from router_svc.config import ModelConfig, ProviderConfig
from router_svc.providers import create_provider
from router_svc.registry import Prices, Registry, resolve_prices

OPENROUTER = ProviderConfig(
    name="openrouter", kind="openai", base_url="https://openrouter.ai/api/v1"
)
OPENAI = ProviderConfig(name="openai", kind="openai", base_url="https://api.openai.com/v1")
ANTHROPIC = ProviderConfig(name="anthropic", kind="anthropic", base_url="https://api.anthropic.com")


def prices(config: ProviderConfig, name: str, **configured: float) -> Prices:
    return resolve_prices(
        ModelConfig(name=name, provider=config.name, **configured), create_provider(config)
    )


@pytest.mark.parametrize(
    ("config", "name", "unknown"),
    [
        # Listed at $0: free, not unpriced.
        pytest.param(
            OPENROUTER, "meta-llama/llama-3.3-70b-instruct:free", (), id="openrouter-free"
        ),
        # genai-prices lists its input price and no output price.
        pytest.param(OPENAI, "text-embedding-3-small", ("output",), id="input-only"),
        pytest.param(OPENAI, "mystery-model-7", ("input", "output"), id="unknown"),
        pytest.param(OPENAI, "gpt-4o", (), id="listed"),
    ],
)
async def test_a_model_is_unpriced_when_a_price_is_known_nowhere(
    caplog: pytest.LogCaptureFixture, config: ProviderConfig, name: str, unknown: tuple[str, ...]
) -> None:
    provider = create_provider(config)
    try:
        with caplog.at_level(logging.WARNING, logger="router_svc.registry"):
            Registry([ModelConfig(name=name, provider=config.name)], {config.name: provider})
    finally:
        await provider.aclose()
    warned = [r.getMessage() for r in caplog.records if "no known price" in r.getMessage()]
    assert prices(config, name).unknown == unknown
    assert len(warned) == (1 if unknown else 0)
    if unknown:
        assert name in warned[0]
        assert f"({', '.join(unknown)})" in warned[0]


async def test_a_configured_price_completes_a_partly_listed_model() -> None:
    found = prices(OPENAI, "text-embedding-3-small", output_price_per_million=0.0)
    assert (found.input, found.output, found.unknown) == (0.02, 0.0, ())


async def test_cache_rates_follow_a_configured_input_price() -> None:
    # Claude Sonnet 4.5 lists $3 input, $0.30 cache reads, $3.75 cache writes: at a
    # negotiated $1.50 the cache rates keep their ratio to the input price.
    claude = prices(ANTHROPIC, "claude-sonnet-4-5", input_price_per_million=1.5)
    assert (claude.cache_read, claude.cache_write) == pytest.approx((0.15, 1.875))
    # gpt-4o lists $2.50 input and $1.25 cached; no cache-write rate: the input price.
    gpt = prices(OPENAI, "gpt-4o", input_price_per_million=5.0)
    assert (gpt.cache_read, gpt.cache_write) == pytest.approx((2.5, 5.0))
    # A configured cache rate is kept; nothing configured: the list rates.
    kept = prices(
        ANTHROPIC,
        "claude-sonnet-4-5",
        input_price_per_million=1.5,
        cache_read_price_per_million=0.2,
    )
    assert kept.cache_read == 0.2
    listed = prices(ANTHROPIC, "claude-sonnet-4-5")
    assert (listed.input, listed.cache_read, listed.cache_write) == (3.0, 0.3, 3.75)
