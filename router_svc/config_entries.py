"""The entries of the router's config tables: ``[[router.providers]]``, ``[[router.models]]``
and ``[[router.categories]]`` (re-exported by :mod:`router_svc.config`, which holds the rest)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmrouter.config import ConfigError

__all__ = [
    "BALANCING_STRATEGIES",
    "PROVIDER_KINDS",
    "CategoryConfig",
    "DeploymentConfig",
    "ModelConfig",
    "ProviderConfig",
]

PROVIDER_KINDS = ("simulated", "openai", "anthropic", "ollama")
# How a model with several deployments spreads its attempts (router_svc.routing.balance).
BALANCING_STRATEGIES = ("weighted", "least_outstanding", "lowest_latency")


@dataclass(frozen=True)
class ProviderConfig:
    """One upstream endpoint. Secrets are never here: ``api_key_env`` names the variable."""

    # Unique name that models refer to (e.g. "openai", "local-ollama").
    name: str
    # Wire format: simulated, openai (any OpenAI-compatible server), anthropic or ollama.
    kind: str
    # Base URL of the API, e.g. "https://api.openai.com/v1"; unused by the simulated kind.
    base_url: str = ""
    # Name of the environment variable holding the API key ("" = no key).
    api_key_env: str = ""
    # True for models on the operator's own hardware: their cost is 0.
    local: bool = False
    # Seconds to establish a connection.
    connect_timeout_s: float = 5.0
    # Most connections open to this upstream at once, in use or kept alive (idle ones close
    # after 30 s); 0 = no limit. A request that finds them all in use waits for one, within
    # its attempt's time: llmrouter_upstream_connections_waiting counts such requests,
    # llmrouter_upstream_connection_wait_seconds times their waits, and their attempt spans
    # get an llmrouter.connection_wait event.
    max_connections: int = 1000
    # Simulated kind only: delay before the answer (or the first chunk), in milliseconds.
    latency_ms: float = 0.0
    # Simulated kind only: delay between streamed chunks, in milliseconds.
    chunk_delay_ms: float = 0.0
    # Top-level keys a client's ``llmrouter.extra_body`` may set in this provider's request
    # bodies (empty: no extras). Keys the router owns (router_svc.providers.extras) cannot be
    # listed.
    extra_body_keys: tuple[str, ...] = ()
    # The provider's own limit on requests per minute for our key, across all its models
    # (0: none). Counted by every router replica together; a model whose provider's limit is
    # reached is passed over (next in its chain) before the provider would answer 429.
    rpm: int = 0
    # The same for tokens per minute (prompt plus completion; estimated up front, corrected
    # to the reported usage).
    tpm: int = 0

    def __post_init__(self) -> None:
        _check_quota(self.rpm, self.tpm)
        if self.max_connections < 0:
            raise ConfigError(
                f"max_connections: must be 0 (no limit) or positive, got {self.max_connections}"
            )
        if self.kind not in PROVIDER_KINDS:
            raise ConfigError(
                f"kind: unknown provider kind {self.kind!r} (one of {', '.join(PROVIDER_KINDS)})"
            )
        # Imported here: the providers package imports this module.
        from .providers.extras import ROUTER_OWNED

        for key in self.extra_body_keys:
            if not key or key in ROUTER_OWNED:
                raise ConfigError(
                    f"extra_body_keys: {key!r} is set by the router and cannot be an extra"
                )


# Characters a deployment name may not hold: the separators of the keys built from it
# (ModelEntry.key "<model>@<deployment>"; router_svc.shared_health's "breaker:<key>:probe:...").
_DEPLOYMENT_NAME_SEPARATORS = ("@", ":")


@dataclass(frozen=True)
class DeploymentConfig:
    """One deployment of a model (``deployments = [{...}, ...]`` of ``[[router.models]]``):
    the same model served by another provider, key or region. A key left unset takes the
    model's value."""

    # Unique among the model's deployments; usage records and Route name it.
    name: str
    # Name of the provider serving this deployment ("": the model's ``provider``).
    provider: str = ""
    # Model id sent upstream ("": the model's ``upstream_model``, else its name).
    upstream_model: str = ""
    # USD per million input / output tokens billed for attempts on this deployment; -1: the
    # model's price, else (unset there too) genai-prices' for this deployment's upstream model.
    input_price_per_million: float = -1.0
    output_price_per_million: float = -1.0
    # This deployment's own requests / tokens per minute at its provider (0: the model's rpm /
    # tpm, which apply to each deployment alone). A deployment at its quota is passed over for
    # another deployment of the model.
    rpm: int = 0
    tpm: int = 0
    # Share of the model's traffic, relative to the other deployments' weights (> 0).
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("name: a deployment needs a name")
        separators = [c for c in _DEPLOYMENT_NAME_SEPARATORS if c in self.name]
        if separators:
            # A name holding a separator could read as another deployment's key.
            raise ConfigError(
                f"name: {self.name!r} may not contain {separators[0]!r}: breakers, quotas and "
                "retry budgets are keyed by '<model>@<deployment>', shared state by "
                "'breaker:<model>@<deployment>'"
            )
        _check_quota(self.rpm, self.tpm)
        if not self.weight > 0:
            raise ConfigError(f"weight: must be positive, got {self.weight}")


@dataclass(frozen=True)
class ModelConfig:
    """One model the router can serve."""

    # Name callers use (and usage records show).
    name: str
    # Name of the provider serving it (with ``deployments``: the default of each deployment's
    # ``provider``; unset, every deployment names its own).
    provider: str = ""
    # Model id sent upstream; defaults to ``name``.
    upstream_model: str = ""
    # Other names that select this model.
    aliases: tuple[str, ...] = ()
    # USD per million input tokens; -1 means "look it up" (0 for local providers).
    input_price_per_million: float = -1.0
    # USD per million output tokens; -1 means "look it up" (0 for local providers).
    output_price_per_million: float = -1.0
    # USD per million prompt tokens read from the provider's prompt cache; -1 means "look it
    # up" (scaled by a configured input price over the listed one), else the input price
    # (genai-prices knows no cache rate for the model).
    cache_read_price_per_million: float = -1.0
    # USD per million prompt tokens written to the provider's prompt cache; as above.
    cache_write_price_per_million: float = -1.0
    # USD per million prompt tokens written to Anthropic's 1-hour cache; -1 means "look it up"
    # (as above), else 2x the input price (Anthropic's pricing: 1-hour writes cost 2x base input).
    cache_write_1h_price_per_million: float = -1.0
    # Context window in tokens (prompt plus completion); a request estimated to need more
    # skips the model (400 when no model is left). 0 = unknown: genai-prices' window for the
    # upstream model when it lists one (not on local providers), else unchecked: the
    # upstream's own context-length error decides (and the chain moves on).
    context_window: int = 0
    # Most completion tokens the model produces in one answer (0 = unknown). Informational:
    # GET /v1/models lists it; requests are not checked against it (the upstream decides).
    max_output_tokens: int = 0
    # Relative answer quality in [0, 1], used by preference scoring.
    quality: float = 0.5
    # Supports tool calling.
    tools: bool = False
    # Accepts images.
    vision: bool = False
    # Supports JSON output modes.
    json_mode: bool = False
    # Returns its reasoning (reasoning_content; Anthropic thinking). Informational: GET
    # /v1/models lists it as a capability; routing does not use it.
    reasoning: bool = False
    # Disabled models are never tried.
    enabled: bool = True
    # Order among models with equal standing (lower first) when no chain says otherwise.
    priority: int = 0
    # Models (names or aliases) tried in order after this one when a client names it; a
    # request's own fallbacks replace these. Not used when the model is reached via a chain.
    fallbacks: tuple[str, ...] = ()
    # Can continue a streamed answer another model began (assistant prefill): unset means the
    # provider kind's default: anthropic and ollama yes; openai no (set true for vLLM and
    # SGLang, which take continue_final_message); simulated no.
    continuation: bool | None = None
    # The provider's limit on requests per minute for this model (0: none): counted by every
    # router replica together, and the model is passed over (next in the chain) once it is
    # reached, before the provider would answer 429. A provider's own rpm applies as well.
    rpm: int = 0
    # The same for tokens per minute (prompt plus completion; estimated up front, corrected
    # to the reported usage).
    tpm: int = 0
    # An embedding model (POST /v1/embeddings, RouterService.Embed): it serves embeddings
    # only, and chat requests never reach it (it is passed over as MISSING_CAPABILITY).
    # Its provider kind must embed: openai (POST /embeddings), ollama (POST /api/embed) or
    # simulated.
    embedding: bool = False
    # Embedding models: the most inputs one upstream call carries; a request with more is sent
    # as several calls (at most 4 at once) whose vectors are put back in order. 0 = the
    # provider kind's limit (openai 2048, ollama 512, simulated 2048).
    max_inputs_per_request: int = 0
    # Embedding models: the length of the vectors it returns (0 = unknown). A request asking
    # for more dimensions passes the model over; fewer are asked of the upstream
    # (``dimensions``), and the simulated kind returns vectors of this length (default 64).
    dimensions: int = 0
    # The same model served by several deployments (README, "Deployments"), e.g.
    # [{name = "east", provider = "azure-east"}, {name = "openai", provider = "openai",
    # weight = 3}]; each has its own breaker, latency statistics, retry budget, quota and
    # prices, and a failing one hands the attempt to another before the chain moves on. Empty:
    # one implicit deployment (``provider``, ``upstream_model`` and the prices above).
    deployments: tuple[DeploymentConfig, ...] = ()
    # How attempts are spread over the deployments: least_outstanding (fewest requests in
    # flight per unit of weight, ties broken at random by weight), weighted (at random by
    # weight) or lowest_latency (lowest EWMA latency; deployments within latency_buffer of
    # the fastest share the traffic by weight).
    balancing: str = "least_outstanding"
    # lowest_latency: deployments up to this fraction slower than the fastest share its
    # traffic (0.25: within 25 %).
    latency_buffer: float = 0.25

    def __post_init__(self) -> None:
        _check_quota(self.rpm, self.tpm)
        if self.balancing not in BALANCING_STRATEGIES:
            raise ConfigError(
                f"balancing: expected one of {', '.join(BALANCING_STRATEGIES)}, "
                f"got {self.balancing!r}"
            )
        if not self.latency_buffer >= 0:
            raise ConfigError(f"latency_buffer: must be 0 or more, got {self.latency_buffer}")
        names: set[str] = set()
        for i, deployment in enumerate(self.deployments):
            if deployment.name in names:
                raise ConfigError(
                    f"deployments[{i}].name: duplicate deployment name {deployment.name!r}"
                )
            names.add(deployment.name)
            if not (deployment.provider or self.provider):
                raise ConfigError(
                    f"deployments[{i}].provider: missing (and the model names no provider)"
                )
        if not self.deployments and not self.provider:
            raise ConfigError("provider: missing required value")
        for name in ("max_inputs_per_request", "dimensions"):
            value = getattr(self, name)
            if value < 0:
                raise ConfigError(f"{name}: must be 0 (the default) or positive, got {value}")
            if value and not self.embedding:
                raise ConfigError(f"{name}: only for embedding models (set embedding = true)")
        if self.embedding and (self.tools or self.vision or self.json_mode or self.reasoning):
            raise ConfigError(
                "embedding: an embedding model serves no chat: tools, vision, json_mode and "
                "reasoning must be false"
            )
        if self.context_window < 0:
            raise ConfigError(
                f"context_window: must be 0 (unknown) or positive, got {self.context_window}"
            )
        if self.max_output_tokens < 0:
            raise ConfigError(
                f"max_output_tokens: must be 0 (unknown) or positive, got {self.max_output_tokens}"
            )

    def served_as(self) -> tuple[tuple[DeploymentConfig | None, ModelConfig], ...]:
        """Each deployment with the model as that deployment serves it (provider, upstream
        model, prices and quota resolved: the deployment's, else the model's); a model without
        ``deployments`` is its one implicit deployment, ``(None, self)``."""
        if not self.deployments:
            return ((None, self),)
        return tuple(
            (
                d,
                replace(
                    self,
                    provider=d.provider or self.provider,
                    upstream_model=d.upstream_model or self.upstream_model,
                    input_price_per_million=_price(d.input_price_per_million, self),
                    output_price_per_million=_price(d.output_price_per_million, self, output=True),
                    rpm=d.rpm or self.rpm,
                    tpm=d.tpm or self.tpm,
                    deployments=(),
                ),
            )
            for d in self.deployments
        )


def _price(configured: float, model: ModelConfig, *, output: bool = False) -> float:
    if configured >= 0:
        return configured
    return model.output_price_per_million if output else model.input_price_per_million


def _check_quota(rpm: int, tpm: int) -> None:
    for name, value in (("rpm", rpm), ("tpm", tpm)):
        if value < 0:
            raise ConfigError(f"{name}: must be 0 (no limit) or positive, got {value}")


@dataclass(frozen=True)
class CategoryConfig:
    """A request category and its ordered fallback chain."""

    # Category name (e.g. "code").
    name: str
    # Model names to try, in order.
    chain: tuple[str, ...]
    # Keywords (case-insensitive, whole words) that select this category.
    keywords: tuple[str, ...] = ()
    # False: requests of this category never use the response cache ([router.cache]).
    cache: bool = True
    # Quality-bounded routing (README "Learned routing"): the cheapest model of the chain whose
    # estimated quality for the request is at least this, in [0, 1]; a request's own
    # llmrouter.min_quality wins. Unset: the chain's order (or the request's preferences).
    min_quality: float | None = None

    def __post_init__(self) -> None:
        if self.min_quality is not None and not 0.0 <= self.min_quality <= 1.0:
            raise ConfigError(f"min_quality: expected 0 to 1, got {self.min_quality}")
