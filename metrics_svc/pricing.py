"""Prices of the model savings are measured against: the configured reference, else the
``genai-prices`` catalogue.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from metrics_svc.costs import ReferencePrice
from metrics_svc.errors import UnknownReferenceModel

__all__ = ["catalogue_price", "reference_price"]

# Tokens priced per lookup. Tiered models (Gemini, long-context Claude) charge every token at a
# higher rate once a request passes a threshold (often 200k tokens); pricing a small request
# gives the base rate that ordinary requests pay, where a million tokens would give the top tier.
_PROBE_TOKENS = 1_000


def reference_price(model: str, configured: ReferencePrice) -> ReferencePrice:
    """Prices of ``model``: ``configured`` if it names that model, else the catalogue's.

    Raises :class:`UnknownReferenceModel` when neither knows the model.
    """
    if not model or model == configured.model:
        return configured
    price = catalogue_price(model)
    if price is None:
        raise UnknownReferenceModel(model, configured.model)
    return price


@functools.lru_cache(maxsize=256)
def catalogue_price(model: str) -> ReferencePrice | None:
    """``model``'s base-tier prices from genai-prices, or None when it does not know the model."""
    # Imported on first use: the catalogue is about 10 MB resident once loaded, and a service
    # whose clients only ask about the configured reference model never needs it.
    from genai_prices import Usage, calc_price

    try:
        calculation = calc_price(
            Usage(input_tokens=_PROBE_TOKENS, output_tokens=_PROBE_TOKENS), model_ref=model
        )
    except LookupError:
        return None
    scale = 1_000_000 // _PROBE_TOKENS  # prices are Decimals: scaled exactly, then rounded once
    listed = calculation.model_price
    return ReferencePrice(
        model=model,
        input_per_million=float(calculation.input_price * scale),
        output_per_million=float(calculation.output_price * scale),
        cache_read_per_million=_base_rate(listed.cache_read_mtok),
        cache_write_per_million=_base_rate(listed.cache_write_mtok),
    )


def _base_rate(price: object) -> float | None:
    """A listed rate (a Decimal, or genai-prices' ``TieredPrices`` with its ``base``) in USD
    per million tokens at its base tier; None when not listed."""
    if price is None:
        return None
    base = getattr(price, "base", price)  # duck-typed: the module is imported lazily
    return float(base) if isinstance(base, Decimal | int | float) else None
