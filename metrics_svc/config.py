"""Configuration of the metrics service: the ``[metrics]`` TOML section plus environment."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmrouter.access import CertGrant, ScopeTable, TokenGrant, parse_token_grants
from llmrouter.config import ConfigError, load_section, read_file
from llmrouter.security import ServerTls
from metrics_svc.database_url import DatabaseUrlError, async_url

__all__ = ["AUTH_TOKENS_ENV", "ENV_SHORTCUTS", "SCOPES", "SECTION", "MetricsConfig", "load_config"]

SECTION = "metrics"
# What each credential may call: only the router writes the ledger, readers only read it;
# scores of answers (the gateway's POST /v1/feedback, the router's evaluation judges) need
# "feedback", which writes no usage.
SCOPES = ScopeTable(
    {"llmrouter.v1.MetricsService": "read"},
    {
        "/llmrouter.v1.MetricsService/RecordUsage": "record",
        "/llmrouter.v1.MetricsService/RecordFeedback": "feedback",
    },
)
# auth_tokens from the environment: comma-separated ENV_NAME:scope[+scope] entries.
AUTH_TOKENS_ENV = "LLMROUTER_METRICS_AUTH_TOKENS"
# Variables of the section that load_config reads itself, and the key each adds to.
ENV_SHORTCUTS = {AUTH_TOKENS_ENV: "auth_tokens"}


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Settings of one metrics process; built once at start, never mutated."""

    #: Interface the gRPC server binds; "0.0.0.0" accepts callers from other hosts.
    host: str = "127.0.0.1"
    #: TCP port of the gRPC server; 0 lets the OS pick a free one.
    port: int = 50052
    #: URL of the ledger: postgresql:// or postgres:// (libpq style; sslmode is honoured), or
    #: sqlite:///path; both mapped to their async drivers (metrics_svc.database_url), which
    #: may also be named (postgresql+asyncpg://, sqlite+aiosqlite://). The parent directory of
    #: a SQLite file is created. Put passwords in LLMROUTER_METRICS_DATABASE_URL, never in the
    #: file.
    database_url: str = "sqlite+aiosqlite:///data/metrics.sqlite3"
    #: Model that savings are measured against when a query names none.
    reference_model: str = "gpt-4o"
    #: Price of the reference model in USD per million prompt tokens.
    reference_input_price_per_million: float = 2.5
    #: Price of the reference model in USD per million completion tokens.
    reference_output_price_per_million: float = 10.0
    #: Price of the reference model in USD per million prompt tokens read from its prompt
    #: cache (gpt-4o's cached input); -1 charges them at the input price.
    reference_cache_read_price_per_million: float = 1.25
    #: Price in USD per million prompt tokens written to its prompt cache (OpenAI charges
    #: none extra); -1 charges them at the input price.
    reference_cache_write_price_per_million: float = -1.0
    #: Seconds in-flight calls get to finish on shutdown before they are cancelled.
    shutdown_grace_s: float = 5.0
    #: Port of the Prometheus /metrics endpoint; 0 disables it.
    prometheus_port: int = 9102
    #: Seconds between turning NOT_SERVING on SIGTERM and refusing new calls. Routers retry
    #: usage delivery anyway, so no drain is needed unless several replicas share a name.
    drain_delay_s: float = 0.0
    #: Largest gRPC request accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.
    max_receive_message_bytes: int = 16 * 1024 * 1024
    #: Environment variables each holding a bearer token with full access (every scope) that
    #: callers may present (gRPC metadata ``authorization: Bearer <token>``).
    auth_token_envs: tuple[str, ...] = ()
    #: Scoped bearer tokens: {env = "VAR", scopes = ["record"]}; scopes: record (RecordUsage),
    #: feedback (RecordFeedback) and read (every other RPC). With no token and no
    #: client_ca_file every caller gets in, which only a loopback host allows.
    auth_tokens: tuple[TokenGrant, ...] = ()
    #: mTLS only: client certificates by subject common name and their scopes; empty accepts
    #: any certificate the client_ca_file signed, with every scope.
    client_certs: tuple[CertGrant, ...] = ()
    #: TLS of the gRPC port; a client_ca_file requires client certificates (mTLS).
    tls: ServerTls = field(default_factory=ServerTls)

    def __post_init__(self) -> None:
        # Keys are relative: llmrouter.config.build prefixes the section ("metrics.port: ...").
        SCOPES.check_grants(self.auth_tokens, self.client_certs, self.tls)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: must be between 0 and 65535, got {self.port}")
        if not self.host:
            raise ConfigError("host: must not be empty")
        if not self.database_url:
            raise ConfigError("database_url: must not be empty")
        try:
            async_url(self.database_url)
        except DatabaseUrlError as exc:
            raise ConfigError(f"database_url: {exc}") from None
        if not self.reference_model:
            raise ConfigError("reference_model: must not be empty")
        for name in (
            "reference_input_price_per_million",
            "reference_output_price_per_million",
            "shutdown_grace_s",
            "drain_delay_s",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name}: must be a number >= 0, got {value}")
        for name in (
            "reference_cache_read_price_per_million",
            "reference_cache_write_price_per_million",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or (value < 0 and value != -1):
                raise ConfigError(f"{name}: must be a number >= 0 or -1, got {value}")
        if self.max_receive_message_bytes <= 0:
            raise ConfigError(
                f"max_receive_message_bytes: must be positive, got {self.max_receive_message_bytes}"
            )


def load_config(path: str | None, environ: Mapping[str, str] | None = None) -> MetricsConfig:
    """Read ``[metrics]`` from the TOML file at ``path`` (or ``$LLMROUTER_CONFIG``) and env."""
    env = os.environ if environ is None else environ
    config = load_section(MetricsConfig, SECTION, read_file(path), env, shortcuts=ENV_SHORTCUTS)
    shortcut = env.get(AUTH_TOKENS_ENV, "")
    if not shortcut.strip():
        return config
    grants = parse_token_grants(shortcut, AUTH_TOKENS_ENV)
    try:
        return dataclasses.replace(config, auth_tokens=(*config.auth_tokens, *grants))
    except ConfigError as exc:
        raise ConfigError(f"{AUTH_TOKENS_ENV}: {exc}") from None
