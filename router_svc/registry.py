"""The model registry: configured models, their providers, prices and runtime switches."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import overload

from .breaker import CircuitBreaker
from .chat import TokenUsage
from .config import ModelConfig
from .model_stats import ModelStats
from .policies import BreakerPolicy
from .pricing import KnownPrices, lookup_prices, provider_hint
from .providers.base import Provider

__all__ = ["ModelEntry", "Registry", "resolve_prices", "unpriced"]

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class ModelEntry:
    """A servable model: its config, provider, resolved prices and enabled switch."""

    config: ModelConfig
    provider: Provider
    input_price_per_million: float
    output_price_per_million: float
    enabled: bool
    breaker: CircuitBreaker
    stats: ModelStats = field(default_factory=ModelStats)
    # USD per million prompt tokens read from / written to the prompt cache (resolved by
    # resolve_prices; None: the input price).
    cache_read_price_per_million: float | None = None
    cache_write_price_per_million: float | None = None

    @property
    def name(self) -> str:
        """Registry name."""
        return self.config.name

    @property
    def upstream_model(self) -> str:
        """Model id sent upstream."""
        return self.config.upstream_model or self.config.name

    @property
    def can_continue(self) -> bool:
        """Whether this model can continue a streamed answer (its ``continuation`` setting, else
        its provider kind's default)."""
        configured = self.config.continuation
        return self.provider.continues if configured is None else configured

    def cost(self, usage: TokenUsage) -> float:
        """USD cost of ``usage`` on this model: the prompt tokens read from and written to the
        prompt cache at the cache rates, the rest of the prompt at the input rate, and the
        completion (reasoning included) at the output rate."""
        read, write = usage.cache_read_tokens, usage.cache_write_tokens
        uncached = max(usage.prompt_tokens - read - write, 0)
        read_price = self.cache_read_price_per_million
        write_price = self.cache_write_price_per_million
        input_price = self.input_price_per_million
        return (
            uncached * input_price
            + read * (input_price if read_price is None else read_price)
            + write * (input_price if write_price is None else write_price)
            + usage.completion_tokens * self.output_price_per_million
        ) / 1_000_000


class Registry:
    """Looks models up by name or alias; order follows the config."""

    def __init__(
        self,
        models: Iterable[ModelConfig],
        providers: dict[str, Provider],
        *,
        breaker_policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        policy = breaker_policy or BreakerPolicy()
        self._entries: dict[str, ModelEntry] = {}
        self._by_name: dict[str, ModelEntry] = {}
        for model in models:
            provider = providers[model.provider]
            prices = resolve_prices(model, provider)
            if unpriced(model, provider):
                # Said once at start: its usage is billed $0, which `llmrouter costs` marks.
                _log.warning(
                    "model %s (provider %s) has no known price: its usage is billed $0; set"
                    " input_price_per_million and output_price_per_million",
                    model.name,
                    provider.name,
                )
            entry = ModelEntry(
                config=model,
                provider=provider,
                input_price_per_million=prices.input,
                output_price_per_million=prices.output,
                enabled=model.enabled,
                breaker=CircuitBreaker(policy, clock),
                cache_read_price_per_million=prices.cache_read,
                cache_write_price_per_million=prices.cache_write,
            )
            self._entries[model.name] = entry
            for name in (model.name, *model.aliases):
                self._by_name[name] = entry

    def get(self, name: str) -> ModelEntry | None:
        """The model named (or aliased) ``name``, or None."""
        return self._by_name.get(name)

    def entries(self) -> list[ModelEntry]:
        """All models in config order."""
        return list(self._entries.values())


def resolve_prices(model: ModelConfig, provider: Provider) -> KnownPrices:
    """Each price as configured (>= 0), else 0 for local providers, else genai-prices' table,
    else 0; a cache rate known nowhere is the input rate."""
    if provider.local:
        known: KnownPrices | None = KnownPrices(0.0, 0.0, 0.0, 0.0)
    else:
        hint = provider_hint(provider.kind, provider.config.base_url)
        known = lookup_prices(model.upstream_model or model.name, hint)
    looked_up = known or KnownPrices(0.0, 0.0)
    input_price = _configured(model.input_price_per_million, looked_up.input)
    read = _configured(model.cache_read_price_per_million, looked_up.cache_read)
    write = _configured(model.cache_write_price_per_million, looked_up.cache_write)
    return KnownPrices(
        input=input_price,
        output=_configured(model.output_price_per_million, looked_up.output),
        cache_read=input_price if read is None else read,
        cache_write=input_price if write is None else write,
    )


@overload
def _configured(configured: float, looked_up: float) -> float: ...
@overload
def _configured(configured: float, looked_up: float | None) -> float | None: ...
def _configured(configured: float, looked_up: float | None) -> float | None:
    return configured if configured >= 0 else looked_up


def unpriced(model: ModelConfig, provider: Provider) -> bool:
    """Whether a model of a remote provider has a price neither configured nor known to
    genai-prices (input or output): its usage would be billed $0 in silence."""
    configured = (model.input_price_per_million, model.output_price_per_million)
    if min(configured) >= 0 or provider.local:
        return False
    hint = provider_hint(provider.kind, provider.config.base_url)
    return lookup_prices(model.upstream_model or model.name, hint) is None
