"""Router configuration: section ``[router]`` of the TOML file plus ``LLMROUTER_ROUTER_*``.

The built-in defaults run with no file at all: one simulated local provider serving two
simulated models, so ``make run`` works on a machine with no API keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmrouter.config import ConfigError, load_section, read_file

__all__ = [
    "PROVIDER_KINDS",
    "CategoryConfig",
    "ModelConfig",
    "ProviderConfig",
    "RouterConfig",
    "load_config",
]

PROVIDER_KINDS = ("simulated", "openai", "anthropic", "ollama")


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
    # Most pooled keep-alive connections to this upstream.
    max_connections: int = 100
    # Simulated kind only: delay before the answer (or the first chunk), in milliseconds.
    latency_ms: float = 0.0
    # Simulated kind only: delay between streamed chunks, in milliseconds.
    chunk_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in PROVIDER_KINDS:
            raise ConfigError(
                f"kind: unknown provider kind {self.kind!r} (one of {', '.join(PROVIDER_KINDS)})"
            )


@dataclass(frozen=True)
class ModelConfig:
    """One model the router can serve."""

    # Name callers use (and usage records show).
    name: str
    # Name of the provider serving it.
    provider: str
    # Model id sent upstream; defaults to ``name``.
    upstream_model: str = ""
    # Other names that select this model.
    aliases: tuple[str, ...] = ()
    # USD per million input tokens; -1 means "look it up" (0 for local providers).
    input_price_per_million: float = -1.0
    # USD per million output tokens; -1 means "look it up" (0 for local providers).
    output_price_per_million: float = -1.0
    # Context window in tokens (prompt plus completion).
    context_window: int = 8192
    # Relative answer quality in [0, 1], used by preference scoring.
    quality: float = 0.5
    # Supports tool calling.
    tools: bool = False
    # Accepts images.
    vision: bool = False
    # Supports JSON output modes.
    json_mode: bool = False
    # Disabled models are never tried.
    enabled: bool = True
    # Order among models with equal standing (lower first) when no chain says otherwise.
    priority: int = 0


@dataclass(frozen=True)
class CategoryConfig:
    """A request category and its ordered fallback chain."""

    # Category name (e.g. "code").
    name: str
    # Model names to try, in order.
    chain: tuple[str, ...]
    # Keywords (case-insensitive, whole words) that select this category.
    keywords: tuple[str, ...] = ()


def _default_providers() -> tuple[ProviderConfig, ...]:
    return (ProviderConfig(name="simulated", kind="simulated", local=True, latency_ms=5.0),)


def _default_models() -> tuple[ModelConfig, ...]:
    return (
        ModelConfig(
            name="sim-small",
            provider="simulated",
            input_price_per_million=0.0,
            output_price_per_million=0.0,
            context_window=8192,
            quality=0.3,
            tools=True,
            json_mode=True,
        ),
        ModelConfig(
            name="sim-large",
            provider="simulated",
            input_price_per_million=0.0,
            output_price_per_million=0.0,
            context_window=131072,
            quality=0.6,
            tools=True,
            vision=True,
            json_mode=True,
        ),
    )


@dataclass(frozen=True)
class RouterConfig:
    """Everything the router process needs."""

    # Interface to listen on ("0.0.0.0" in containers).
    host: str = "127.0.0.1"
    # gRPC port (0 picks a free one).
    port: int = 50051
    # host:port of the metrics service that receives usage records.
    metrics_address: str = "127.0.0.1:50052"
    # SQLite file of the durable usage outbox.
    outbox_path: str = "data/router-outbox.sqlite3"
    # Most usage records kept in the outbox while the metrics service is away.
    outbox_max_records: int = 1_000_000
    # Records per RecordUsage batch.
    outbox_batch_size: int = 500
    # Longest a record waits before its batch ships, in milliseconds.
    outbox_flush_interval_ms: float = 200.0
    # Deadline for requests that arrive without one, in seconds.
    default_deadline_s: float = 120.0
    # Seconds in-flight calls get to finish after SIGTERM.
    shutdown_grace_s: float = 10.0
    # Chain used when no category matches (and by the simulated default set-up).
    default_chain: tuple[str, ...] = ("sim-small", "sim-large")
    # Upstream endpoints.
    providers: tuple[ProviderConfig, ...] = field(default_factory=_default_providers)
    # The model registry.
    models: tuple[ModelConfig, ...] = field(default_factory=_default_models)
    # Categories with their keywords and chains.
    categories: tuple[CategoryConfig, ...] = ()

    def __post_init__(self) -> None:
        providers = {p.name for p in self.providers}
        if len(providers) != len(self.providers):
            raise ConfigError("providers: provider names must be unique")
        names: set[str] = set()
        for i, model in enumerate(self.models):
            if model.provider not in providers:
                raise ConfigError(f"models[{i}].provider: unknown provider {model.provider!r}")
            for name in (model.name, *model.aliases):
                if name in names or name == "auto":
                    raise ConfigError(f"models[{i}].name: duplicate model name {name!r}")
                names.add(name)
        for i, name in enumerate(self.default_chain):
            if name not in names:
                raise ConfigError(f"default_chain[{i}]: unknown model {name!r}")
        for c, category in enumerate(self.categories):
            for i, name in enumerate(category.chain):
                if name not in names:
                    raise ConfigError(f"categories[{c}].chain[{i}]: unknown model {name!r}")


def load_config(path: str | None = None, document: dict[str, Any] | None = None) -> RouterConfig:
    """Load ``[router]`` from the file at ``path`` (or ``$LLMROUTER_CONFIG``) and environment."""
    return load_section(
        RouterConfig, "router", document if document is not None else read_file(path)
    )
