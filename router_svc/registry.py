"""The model registry: configured models, their providers, prices and runtime switches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .chat import TokenUsage
from .config import ModelConfig
from .providers.base import Provider

__all__ = ["ModelEntry", "Registry"]


@dataclass(slots=True)
class ModelEntry:
    """A servable model: its config, provider, resolved prices and enabled switch."""

    config: ModelConfig
    provider: Provider
    input_price_per_million: float
    output_price_per_million: float
    enabled: bool

    @property
    def name(self) -> str:
        """Registry name."""
        return self.config.name

    @property
    def upstream_model(self) -> str:
        """Model id sent upstream."""
        return self.config.upstream_model or self.config.name

    def cost(self, usage: TokenUsage) -> float:
        """USD cost of ``usage`` on this model."""
        return (
            usage.prompt_tokens * self.input_price_per_million
            + usage.completion_tokens * self.output_price_per_million
        ) / 1_000_000


class Registry:
    """Looks models up by name or alias; order follows the config."""

    def __init__(self, models: Iterable[ModelConfig], providers: dict[str, Provider]) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._by_name: dict[str, ModelEntry] = {}
        for model in models:
            provider = providers[model.provider]
            entry = ModelEntry(
                config=model,
                provider=provider,
                input_price_per_million=_price(model.input_price_per_million, provider.local),
                output_price_per_million=_price(model.output_price_per_million, provider.local),
                enabled=model.enabled,
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


def _price(configured: float, local: bool) -> float:
    if configured >= 0:
        return configured
    # Unknown prices of remote models count as 0 until a price table is wired in.
    return 0.0
