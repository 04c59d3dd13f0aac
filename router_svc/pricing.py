"""Default token prices from the ``genai-prices`` package (offline: its bundled table)."""

from __future__ import annotations

from functools import lru_cache

from genai_prices import Usage, calc_price

__all__ = ["lookup_prices"]

_MILLION = 1_000_000


@lru_cache(maxsize=256)
def lookup_prices(upstream_model: str, provider_hint: str | None) -> tuple[float, float] | None:
    """USD per million (input, output) tokens for a model, or None when unknown."""
    try:
        price = calc_price(
            Usage(input_tokens=_MILLION, output_tokens=_MILLION),
            model_ref=upstream_model,
            provider_id=provider_hint,
        )
    except Exception:
        return None
    return float(price.input_price), float(price.output_price)


def provider_hint(kind: str, base_url: str) -> str | None:
    """The genai-prices provider id for an endpoint, when we can tell."""
    if kind == "anthropic":
        return "anthropic"
    if "openrouter.ai" in base_url:
        return "openrouter"
    if "api.openai.com" in base_url:
        return "openai"
    return None
