"""The model registry: configured models, their providers, prices and runtime switches."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .breaker import CircuitBreaker
from .chat import TokenUsage
from .config import DeploymentConfig, ModelConfig
from .model_stats import ModelStats
from .policies import BreakerPolicy
from .pricing import KnownPrices, lookup_context_window, lookup_prices, provider_hint
from .providers.base import Provider

__all__ = [
    "CostParts",
    "ModelEntry",
    "PriceSources",
    "Prices",
    "Registry",
    "resolve_context_window",
    "resolve_prices",
]

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
    # USD per million prompt tokens written to Anthropic's 1-hour cache (None: 2x the input).
    cache_write_1h_price_per_million: float | None = None
    # Context window in tokens (resolve_context_window): None when unknown, and then no request
    # is refused for its size here: the upstream's own context-length error decides.
    context_window: int | None = None
    # Where ``context_window`` comes from: "config" or "genai-prices" ("" when unknown).
    context_window_source: str = ""
    # Where each price comes from (resolve_prices).
    price_sources: PriceSources = field(default_factory=lambda: PriceSources())
    # The deployment this entry serves (DeploymentConfig.name); "" for a model configured
    # without deployments (its one implicit deployment). ``config`` is the model as this
    # deployment serves it: its provider, upstream model, prices and quota.
    deployment: str = ""
    # This deployment's share of the model's traffic (DeploymentConfig.weight).
    weight: float = 1.0
    # On the model's entry (the one Registry.get returns, its first deployment's): every
    # deployment of the model, that one first; () for a model without deployments. Routing
    # balances attempts over them (router_svc.routing.balance).
    deployments: tuple[ModelEntry, ...] = field(default=(), compare=False, repr=False)
    # Attempts on this deployment in flight on this replica (streams until they end, hedges
    # included): what least_outstanding balances on.
    outstanding: int = 0
    # This deployment among all: the model's name, ``model@deployment`` for a named deployment
    # (breakers, statistics, retry budgets and quotas are kept by it). Set from the two above.
    key: str = field(default="", init=False)

    def __post_init__(self) -> None:
        # An attribute, not a property: read several times per attempt.
        name = self.config.name
        self.key = f"{name}@{self.deployment}" if self.deployment else name

    @property
    def window_text(self) -> str:
        """The window as messages show it: ``8192``, ``128000 (genai-prices)`` or ``unknown``."""
        if self.context_window is None:
            return "unknown"
        if self.context_window_source == "config":
            return str(self.context_window)
        return f"{self.context_window} ({self.context_window_source})"

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
        prompt cache at the cache rates (the 1-hour writes at theirs), the rest of the prompt at
        the input rate, and the completion (reasoning included) at the output rate."""
        read, write = usage.cache_read_tokens, usage.cache_write_tokens
        hour = min(usage.cache_write_1h_tokens, write)
        uncached = max(usage.prompt_tokens - read - write, 0)
        read_price = self.cache_read_price_per_million
        write_price = self.cache_write_price_per_million
        hour_price = self.cache_write_1h_price_per_million
        input_price = self.input_price_per_million
        return (
            uncached * input_price
            + read * (input_price if read_price is None else read_price)
            + (write - hour) * (input_price if write_price is None else write_price)
            + hour * (2 * input_price if hour_price is None else hour_price)
            + usage.completion_tokens * self.output_price_per_million
        ) / 1_000_000

    def cost_parts(self, usage: TokenUsage) -> CostParts:
        """:meth:`cost` by part, for span attributes (``router.openinference``): the same
        rates, so the parts add up to :meth:`cost`."""
        read, write = usage.cache_read_tokens, usage.cache_write_tokens
        hour = min(usage.cache_write_1h_tokens, write)
        input_price = self.input_price_per_million
        read_price = self.cache_read_price_per_million
        write_price = self.cache_write_price_per_million
        hour_price = self.cache_write_1h_price_per_million
        output_price = self.output_price_per_million
        return CostParts(
            input_usd=max(usage.prompt_tokens - read - write, 0) * input_price / 1_000_000,
            cache_read_usd=read * (input_price if read_price is None else read_price) / 1_000_000,
            cache_write_usd=(
                (write - hour) * (input_price if write_price is None else write_price)
                + hour * (2 * input_price if hour_price is None else hour_price)
            )
            / 1_000_000,
            output_usd=usage.completion_tokens * output_price / 1_000_000,
            reasoning_usd=min(usage.reasoning_tokens, usage.completion_tokens)
            * output_price
            / 1_000_000,
        )


@dataclass(frozen=True, slots=True)
class CostParts:
    """The USD cost of one call by part (:meth:`ModelEntry.cost_parts`)."""

    # Prompt tokens neither read from nor written to the prompt cache, at the input rate.
    input_usd: float
    # Prompt tokens read from the cache, at the cache-read rate.
    cache_read_usd: float
    # Prompt tokens written to the cache (5-minute and 1-hour writes), at their rates.
    cache_write_usd: float
    # Completion tokens, reasoning included, at the output rate.
    output_usd: float
    # The reasoning tokens' share of ``output_usd``.
    reasoning_usd: float

    @property
    def prompt_usd(self) -> float:
        """The whole prompt: uncached, cache reads and cache writes."""
        return self.input_usd + self.cache_read_usd + self.cache_write_usd

    @property
    def total_usd(self) -> float:
        """Prompt and completion."""
        return self.prompt_usd + self.output_usd


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
        self._deployments: list[ModelEntry] = []
        for model in models:
            served = [
                _entry(as_served, providers[as_served.provider], policy, clock, deployment)
                for deployment, as_served in model.served_as()
            ]
            entry = served[0]
            if model.deployments:
                entry.deployments = tuple(served)
            self._deployments.extend(served)
            self._entries[model.name] = entry
            for name in (model.name, *model.aliases):
                self._by_name[name] = entry

    def get(self, name: str) -> ModelEntry | None:
        """The model named (or aliased) ``name``, or None."""
        return self._by_name.get(name)

    def entries(self) -> list[ModelEntry]:
        """All models in config order."""
        return list(self._entries.values())

    def deployments(self) -> list[ModelEntry]:
        """Every deployment of every model (a model without deployments: its entry), in
        config order."""
        return list(self._deployments)


def _entry(
    model: ModelConfig,
    provider: Provider,
    policy: BreakerPolicy,
    clock: Callable[[], float],
    deployment: DeploymentConfig | None,
) -> ModelEntry:
    """The entry of one deployment (``None``: a model's implicit one), served as ``model``."""
    prices = resolve_prices(model, provider)
    where = f"deployment {deployment.name} of " if deployment is not None else ""
    # An embedding model produces no output tokens: only its input price matters.
    unknown = [p for p in prices.unknown if not (model.embedding and p == "output")]
    if unknown:
        # Said once at start: that part of its usage is billed $0.
        _log.warning(
            "%smodel %s (provider %s) has no known price (%s): that part of its usage is"
            " billed $0; set %s (or local = true on a provider that runs on your own"
            " hardware)",
            where,
            model.name,
            provider.name,
            ", ".join(unknown),
            " and ".join(f"{name}_price_per_million" for name in unknown),
        )
    window, source = resolve_context_window(model, provider)
    if window is None:
        _log.info(
            "%smodel %s: context window unknown (set context_window to check requests "
            "against it): the upstream decides what fits",
            where,
            model.name,
        )
    return ModelEntry(
        config=model,
        provider=provider,
        input_price_per_million=prices.input,
        output_price_per_million=prices.output,
        enabled=model.enabled,
        breaker=CircuitBreaker(policy, clock),
        cache_read_price_per_million=prices.cache_read,
        cache_write_price_per_million=prices.cache_write,
        cache_write_1h_price_per_million=prices.cache_write_1h,
        context_window=window,
        context_window_source=source,
        price_sources=prices.sources,
        deployment=deployment.name if deployment is not None else "",
        weight=deployment.weight if deployment is not None else 1.0,
    )


def resolve_context_window(model: ModelConfig, provider: Provider) -> tuple[int | None, str]:
    """The model's context window in tokens and where it comes from: as configured (> 0), else
    genai-prices' for the upstream model on a non-local provider, else ``(None, "")``: unknown
    (a local server's window is its own setting, e.g. Ollama's ``num_ctx``, not the model's)."""
    if model.context_window > 0:
        return model.context_window, "config"
    if provider.local:
        return None, ""
    hint = provider_hint(provider.kind, provider.config.base_url)
    window = lookup_context_window(model.upstream_model or model.name, hint)
    return (window, "genai-prices") if window is not None else (None, "")


@dataclass(frozen=True, slots=True)
class PriceSources:
    """Where each of a model's prices comes from (``GET /v1/models`` lists them): ``config``
    (its ``*_price_per_million``), ``genai-prices`` (the package's bundled table), ``local``
    (a provider on the operator's own hardware: 0), ``input-price`` (a cache rate listed
    nowhere: the input price, 2x for 1-hour writes), ``scaled`` (genai-prices' cache rate
    scaled by a configured over the listed input price) or ``unknown`` (known nowhere: billed
    at 0)."""

    input: str = "unknown"
    output: str = "unknown"
    cache_read: str = "unknown"
    cache_write: str = "unknown"
    cache_write_1h: str = "unknown"


@dataclass(frozen=True, slots=True)
class Prices:
    """A model's rates as billed, in USD per million tokens, and which are known nowhere."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    # Anthropic's 1-hour cache writes.
    cache_write_1h: float
    # The rates ("input", "output") neither configured nor known to genai-prices, billed at 0:
    # the model is unpriced (the router warns at start).
    unknown: tuple[str, ...] = ()
    # Where each rate comes from.
    sources: PriceSources = PriceSources()


def resolve_prices(model: ModelConfig, provider: Provider) -> Prices:
    """Each price as configured (>= 0), else 0 for local providers, else genai-prices' table;
    an input or output price known nowhere is billed at 0 and named in ``unknown`` (a price
    known to be 0, as OpenRouter's ``:free`` models', is a price). A cache rate not configured
    follows the input price: when the input price is configured, genai-prices' cache rate
    scaled by the configured over the listed input price (the provider's cache discount kept,
    never a list rate beside a negotiated one), else the listed cache rate; the input price
    where none is listed (a 1-hour cache write: 2x the input price, Anthropic's pricing page,
    "Prompt caching": 1-hour writes 2x the base input price, 5-minute writes 1.25x)."""
    listed_source = "local" if provider.local else "genai-prices"
    if provider.local:
        known: KnownPrices | None = KnownPrices(0.0, 0.0, 0.0, 0.0, 0.0)
    else:
        hint = provider_hint(provider.kind, provider.config.base_url)
        known = lookup_prices(model.upstream_model or model.name, hint)
    listed = known or KnownPrices(None, None)
    input_price = _configured(model.input_price_per_million, listed.input)
    output_price = _configured(model.output_price_per_million, listed.output)
    unknown = tuple(
        name for name, price in (("input", input_price), ("output", output_price)) if price is None
    )
    base = input_price or 0.0

    def source(configured: float, price: float | None) -> str:
        if configured >= 0:
            return "config"
        return "unknown" if price is None else listed_source

    def cache_rate(
        configured: float, listed_rate: float | None, times: float = 1.0
    ) -> tuple[float, str]:
        if configured >= 0:
            return configured, "config"
        if listed_rate is None:
            return base * times, "input-price"
        if model.input_price_per_million >= 0:
            # Configured input price: the listed cache discount applied to it.
            if listed.input:
                return base * listed_rate / listed.input, "scaled"
            return base, "input-price"
        return listed_rate, listed_source

    cache_read = cache_rate(model.cache_read_price_per_million, listed.cache_read)
    cache_write = cache_rate(model.cache_write_price_per_million, listed.cache_write)
    cache_write_1h = cache_rate(
        model.cache_write_1h_price_per_million, listed.cache_write_1h, times=2.0
    )
    return Prices(
        input=base,
        output=output_price or 0.0,
        cache_read=cache_read[0],
        cache_write=cache_write[0],
        cache_write_1h=cache_write_1h[0],
        unknown=unknown,
        sources=PriceSources(
            input=source(model.input_price_per_million, input_price),
            output=source(model.output_price_per_million, output_price),
            cache_read=cache_read[1],
            cache_write=cache_write[1],
            cache_write_1h=cache_write_1h[1],
        ),
    )


def _configured(configured: float, looked_up: float | None) -> float | None:
    return configured if configured >= 0 else looked_up
