"""The model registry: configured models, their providers, prices and runtime switches."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .breaker import CircuitBreaker
from .chat import TokenUsage
from .config import ModelConfig
from .model_stats import ModelStats
from .policies import BreakerPolicy
from .pricing import lookup_prices, provider_hint
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
        """USD cost of ``usage`` on this model."""
        return (
            usage.prompt_tokens * self.input_price_per_million
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
                input_price_per_million=prices[0],
                output_price_per_million=prices[1],
                enabled=model.enabled,
                breaker=CircuitBreaker(policy, clock),
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


def resolve_prices(model: ModelConfig, provider: Provider) -> tuple[float, float]:
    """Configured prices, else 0 for local providers, else genai-prices' table, else 0."""
    configured = (model.input_price_per_million, model.output_price_per_million)
    if min(configured) >= 0:
        return configured
    if provider.local:
        known: tuple[float, float] | None = (0.0, 0.0)
    else:
        hint = provider_hint(provider.kind, provider.config.base_url)
        known = lookup_prices(model.upstream_model or model.name, hint)
    looked_up = known or (0.0, 0.0)
    return (
        configured[0] if configured[0] >= 0 else looked_up[0],
        configured[1] if configured[1] >= 0 else looked_up[1],
    )


def unpriced(model: ModelConfig, provider: Provider) -> bool:
    """Whether a model of a remote provider has a price neither configured nor known to
    genai-prices (input or output): its usage would be billed $0 in silence."""
    configured = (model.input_price_per_million, model.output_price_per_million)
    if min(configured) >= 0 or provider.local:
        return False
    hint = provider_hint(provider.kind, provider.config.base_url)
    return lookup_prices(model.upstream_model or model.name, hint) is None
