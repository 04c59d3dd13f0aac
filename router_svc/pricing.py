"""Default token prices and context windows from the ``genai-prices`` package (offline: its
bundled table)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from genai_prices import Usage, calc_price
from genai_prices.types import ModelPrice, PriceCalculation, TieredPrices

__all__ = ["KnownPrices", "lookup_context_window", "lookup_prices"]


@dataclass(frozen=True, slots=True)
class KnownPrices:
    """USD per million tokens of one model, as genai-prices lists them.

    ``cache_read`` / ``cache_write`` are the rates of prompt tokens read from / written to the
    provider's prompt cache (Anthropic's 5-minute cache write; ``cache_write_1h`` its 1-hour
    one). Each is None when the table has
    none (an embedding model lists no output price): unknown, which is not 0 (OpenRouter's
    ``:free`` models are listed at 0). Tiered prices (e.g. above 200K prompt tokens) are given
    at their base tier.
    """

    input: float | None
    output: float | None
    cache_read: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None
    """Anthropic's 1-hour cache write (genai-prices ``cache_write_1h_mtok``)."""


@lru_cache(maxsize=256)
def _listed(upstream_model: str, provider_hint: str | None) -> PriceCalculation | None:
    """genai-prices' entry for a model (its price for one token each way), or None when it
    does not know the model."""
    try:
        return calc_price(
            Usage(input_tokens=1, output_tokens=1),
            model_ref=upstream_model,
            provider_id=provider_hint,
        )
    except Exception:
        return None


def lookup_context_window(upstream_model: str, provider_hint: str | None) -> int | None:
    """The model's context window in tokens as genai-prices lists it (``ModelInfo.
    context_window``), or None when it does not know the model or lists no window."""
    found = _listed(upstream_model, provider_hint)
    window = found.model.context_window if found is not None else None
    return window if isinstance(window, int) and window > 0 else None


def lookup_prices(upstream_model: str, provider_hint: str | None) -> KnownPrices | None:
    """The prices of a model, or None when genai-prices does not know it."""
    found = _listed(upstream_model, provider_hint)
    if found is None:
        return None
    price = found.model_price
    if price == ModelPrice():
        # Listed with no charge at all (OpenRouter's ``:free`` models): free, not unknown.
        return KnownPrices(0.0, 0.0)
    return KnownPrices(
        input=_base(price.input_mtok),
        output=_base(price.output_mtok),
        cache_read=_base(price.cache_read_mtok),
        cache_write=_base(price.cache_write_mtok),
        cache_write_1h=_base(getattr(price, "cache_write_1h_mtok", None)),
    )


def _base(price: Decimal | TieredPrices | None) -> float | None:
    # The base tier: pricing a million tokens at once (as this once did) crossed the 200K
    # tier of tiered models and listed e.g. claude-sonnet-4-5 at $6 instead of $3.
    if price is None:
        return None
    return float(price.base if isinstance(price, TieredPrices) else price)


def provider_hint(kind: str, base_url: str) -> str | None:
    """The genai-prices provider id for an endpoint, when we can tell."""
    if kind == "anthropic":
        return "anthropic"
    if "openrouter.ai" in base_url:
        return "openrouter"
    if "api.openai.com" in base_url:
        return "openai"
    return None
