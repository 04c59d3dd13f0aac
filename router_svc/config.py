"""Router configuration: section ``[router]`` of the TOML file plus ``LLMROUTER_ROUTER_*``.

The built-in defaults run with no file at all: one simulated local provider serving two
simulated chat models and a simulated embedding model, so ``make run`` works on a machine
with no API keys.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from llmrouter.access import CertGrant, ScopeTable, TokenGrant, parse_token_grants
from llmrouter.config import ConfigError, load_section, read_file
from llmrouter.security import ClientTls, ServerTls
from llmrouter.shared_state import StateConfig, load_state_config
from llmrouter.sizes import (
    DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    configured_int,
    router_receive_limit,
)

from .alerts.config import AlertsConfig
from .budgets.rules import BudgetRule, ConfigRules
from .cache.config import CacheConfig
from .config_entries import (
    BALANCING_STRATEGIES,
    PROVIDER_KINDS,
    CategoryConfig,
    DeploymentConfig,
    ModelConfig,
    ProviderConfig,
)
from .evaluation.config import EvaluationConfig
from .known_providers import ENV_PROVIDERS
from .learned.config import LearnedConfig
from .policies import BreakerPolicy, RetryPolicy
from .quality.config import QualityConfig
from .urls import UrlRefused, check_url_static, parse_allow_list

__all__ = [
    "AUTH_TOKENS_ENV",
    "BALANCING_STRATEGIES",
    "CLASSIFICATION_MODES",
    "EMBEDDING_KINDS",
    "ENV_SHORTCUTS",
    "PROVIDER_KINDS",
    "SCOPES",
    "BreakerConfig",
    "CategoryConfig",
    "DeploymentConfig",
    "ModelConfig",
    "ProviderConfig",
    "RetryConfig",
    "RouterConfig",
    "load_config",
    "with_env_providers",
]

# What each credential may call: the gateway's token needs inference, operators' tools admin.
SCOPES = ScopeTable(
    {"llmrouter.v1.RouterService": "inference", "llmrouter.v1.RouterAdminService": "admin"},
    # The gateway authenticates virtual keys, and shows a key its own budgets (/v1/usage), with
    # its own (inference) token: two reads every gateway needs, admin token or not.
    {
        "/llmrouter.v1.RouterAdminService/ListApiKeyDigests": "inference",
        "/llmrouter.v1.RouterAdminService/ListBudgets": "inference",
    },
    # ... and operators read the budgets with their admin token (/v1/admin/budgets, the CLI).
    {"/llmrouter.v1.RouterAdminService/ListBudgets": ("admin",)},
)
# auth_tokens from the environment: comma-separated ENV_NAME:scope[+scope] entries.
AUTH_TOKENS_ENV = "LLMROUTER_ROUTER_AUTH_TOKENS"
# Variables of the section that load_config reads itself, and the key each adds to.
ENV_SHORTCUTS = {AUTH_TOKENS_ENV: "auth_tokens"}
CLASSIFICATION_MODES = ("keywords", "classifier", "hybrid")
_ADMIN_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "sqlite", "sqlite+aiosqlite")


# The retry section is the engine's own policy object (one definition, one set of docs).
RetryConfig = RetryPolicy

# The breaker section is the breaker's own policy object (one definition, one set of docs).
BreakerConfig = BreakerPolicy


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
        # POST /v1/embeddings with no key: deterministic unit vectors (router_svc.providers.
        # simulated); never in a chat chain.
        ModelConfig(
            name="sim-embed",
            provider="simulated",
            input_price_per_million=0.0,
            output_price_per_million=0.0,
            embedding=True,
            dimensions=64,
        ),
    )


# Provider kinds with an embeddings API (router_svc.providers: Provider.embeds).
EMBEDDING_KINDS = ("simulated", "openai", "ollama")


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
    # Longest an answer waits for its usage records to reach the outbox file, in milliseconds
    # (a group commit usually takes well under one). Past it the answer goes out anyway, the
    # records stay in memory until the file takes them, and answers stop waiting until it
    # does (llmrouter_outbox_not_durable_total). 0: answers never wait (records reach the
    # file within outbox_flush_interval_ms, and a killed router loses those still waiting).
    outbox_durable_timeout_ms: float = 500.0
    # Deadline for requests that arrive without one, in seconds.
    default_deadline_s: float = 120.0
    # Seconds in-flight calls get to finish after SIGTERM.
    shutdown_grace_s: float = 10.0
    # Seconds between turning NOT_SERVING on SIGTERM and refusing new calls: clients' load
    # balancers watch health and move new calls to other replicas meanwhile.
    drain_delay_s: float = 1.0
    # Largest gRPC request accepted, in bytes; larger ones get RESOURCE_EXHAUSTED (the gateway
    # answers 413 naming this key). Default: the gateway's default body limit (32 MiB) plus
    # 64 KiB of framing. Unset, and the same file (or environment) setting
    # gateway.max_body_bytes, it follows that plus 64 KiB; set lower than that, start fails.
    max_receive_message_bytes: int = DEFAULT_MAX_RECEIVE_MESSAGE_BYTES
    # Largest answer sent, in bytes (one Complete answer or one stream chunk). A larger one
    # ends the call with RESOURCE_EXHAUSTED, ErrorInfo RESPONSE_TOO_LARGE, and is not tried on
    # another model: the upstream has already served (and billed) it. Keep it at most the
    # gateway's max_response_bytes.
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    # Seconds after which a client connection is asked to move to a new one (HTTP/2 GOAWAY,
    # gRFC A9, with ~10 % jitter); calls in flight finish on the old one, never cut. Clients
    # resolve the router's name again when they reconnect, so routers added behind one DNS
    # name (a Kubernetes headless Service) get calls from gateways already running. 0: a
    # connection lasts until it has been idle 10 minutes.
    max_connection_age_s: float = 0.0
    # Environment variables each holding a bearer token with full access (every scope) that
    # callers may present (gRPC metadata ``authorization: Bearer <token>``).
    auth_token_envs: tuple[str, ...] = ()
    # Scoped bearer tokens: {env = "VAR", scopes = ["inference"]}; scopes: inference
    # (RouterService) and admin (RouterAdminService). With no token and no client_ca_file
    # every caller gets in, which only a loopback host allows.
    auth_tokens: tuple[TokenGrant, ...] = ()
    # mTLS only: client certificates by subject common name and their scopes
    # ({client_cn = "gateway", scopes = ["inference"]}); empty accepts any certificate the
    # client_ca_file signed, with every scope.
    client_certs: tuple[CertGrant, ...] = ()
    # TLS of the gRPC port; a client_ca_file requires client certificates (mTLS).
    tls: ServerTls = field(default_factory=ServerTls)
    # Environment variable holding the bearer token sent to the metrics service ("" = none).
    metrics_token_env: str = ""
    # TLS towards the metrics service.
    metrics_tls: ClientTls = field(default_factory=ClientTls)
    # Provider hosts allowed although private, loopback or link-local: host names, IP
    # addresses or networks ("localhost", "127.0.0.1", "10.0.0.0/8"), e.g. a local Ollama;
    # ":port" admits that port only ("localhost:11434", "[::1]:8080", "10.0.0.0/8:8000").
    # Checked when a URL is set, at start, and on every address a new connection resolves to.
    allowed_private_hosts: tuple[str, ...] = ()
    # Chain used when no category matches (and by the simulated default set-up).
    default_chain: tuple[str, ...] = ("sim-small", "sim-large")
    # Upstream endpoints.
    providers: tuple[ProviderConfig, ...] = field(default_factory=_default_providers)
    # The model registry.
    models: tuple[ModelConfig, ...] = field(default_factory=_default_models)
    # Categories with their keywords and chains; empty means the built-in tools, code,
    # reasoning and conversation categories, each using default_chain.
    categories: tuple[CategoryConfig, ...] = ()
    # How categories are found: keywords, classifier (ask classifier_model) or hybrid
    # (keywords first, the classifier when no keyword matches).
    classification_mode: str = "keywords"
    # Registry model asked for the category in classifier and hybrid modes.
    classifier_model: str = ""
    # Seconds the classifier model gets before keywords decide instead.
    classifier_timeout_s: float = 1.0
    # Chats with at most this many characters count as "conversation".
    short_chat_chars: int = 400
    # The JSON file earlier releases kept admin changes in: imported once into an empty admin
    # store, and (with admin_database_url unset) where that store's SQLite file goes, beside
    # it with the suffix .sqlite3 (data/router-state.sqlite3).
    state_path: str = "data/router-state.json"
    # Database of the admin store: runtime changes made through the admin RPCs (overlays on
    # this file's values) and their audit log. postgresql://user@host/db (the ledger's server
    # will do: the store has tables of its own) for replicas on several hosts; sqlite:///path
    # for one host. Empty: SQLite beside state_path. Put a password in
    # LLMROUTER_ROUTER_ADMIN_DATABASE_URL, never in the file.
    admin_database_url: str = ""
    # Seconds between checks of the admin store's version: a replica that missed a change's
    # announcement (shared state unreachable, or embedded) applies it within this time.
    admin_resync_interval_s: float = 5.0
    # Ship a usage record for every attempt to the metrics service (off only for benchmarks
    # or deployments that account elsewhere; Prometheus counters are kept either way).
    record_usage: bool = True
    # Record prompts and completions on attempt spans (off: content never leaves the process).
    capture_content: bool = False
    # Keep prompts and answers of requests sampled for evaluation ([router.evaluation]) in
    # the admin store until they are graded (off: no prompt or answer is ever stored, and
    # evaluation samples nothing). Independent of capture_content (spans).
    store_content: bool = False
    # Add OpenInference attributes (span kind LLM, llm.model_name, llm.token_count.*,
    # llm.cost.*) beside the GenAI ones on attempt spans, for viewers that read only those
    # (Arize Phoenix); prompts and answers among them only with capture_content.
    openinference: bool = False
    # Name provider ids and upstream base URLs, hosts and addresses in the error messages
    # callers get (off: "the upstream", "[upstream URL]"...; the whole message goes to the log
    # at WARNING and to the attempt's span either way).
    expose_provider_in_errors: bool = False
    # Port of the Prometheus /metrics endpoint (0 disables it).
    prometheus_port: int = 9101
    # Retries, backoff and deadlines.
    retry: RetryConfig = field(default_factory=RetryConfig)
    # Circuit breakers.
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    # The response cache ([router.cache]; README, "Response cache").
    cache: CacheConfig = field(default_factory=CacheConfig)
    # Budget, error-rate and latency alerts and their webhooks ([router.alerts]; README,
    # "Alerts").
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    # Evaluation jobs: a judge model grades sampled answers ([router.evaluation]; README,
    # "Evaluation jobs"). Samples only with store_content on.
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    # Quality estimates learned from feedback, read from the metrics service at
    # metrics_address ([router.quality]; README, "Quality estimates").
    quality: QualityConfig = field(default_factory=QualityConfig)
    # The learned quality predictor of quality-bounded routing ([router.learned]; README,
    # "Learned routing"); off until embedding_model is set.
    learned: LearnedConfig = field(default_factory=LearnedConfig)
    # The shared store, from the top-level [state] section (not [router.state]): where the
    # response cache keeps answers and breakers are shared when its backend is redis.
    state: StateConfig = field(default_factory=StateConfig)
    # Router replicas sharing the models' and providers' rpm / tpm quotas: while the [state]
    # Redis does not answer, each replica admits its share, quota // rate_limit_replicas
    # (at least 1).
    rate_limit_replicas: int = 1
    # Budgets in USD per API key or team ([[router.budgets]]; README, "Budgets").
    budgets: tuple[BudgetRule, ...] = ()
    # Output tokens a request without max_tokens is assumed to take when its worst-case cost
    # is reserved against a budget (the registry knows no model's output limit).
    budget_default_max_output_tokens: int = 4096
    # Seconds a reservation counts when its attempt never settles (its replica crashed); also
    # the longest an attempt's reservation is kept while it runs.
    budget_reservation_ttl_s: float = 900.0
    # With the redis backend, the share (percent) of a rule's hard limit a replica leases at a
    # time and spends in process (router_svc.budgets.leases); 0: every attempt reserved and
    # settled in the store.
    budget_lease_percent: float = 1.0
    # Seconds between corrections of the budget counters from the ledger (0: never).
    budget_reconcile_interval_s: float = 60.0
    # Seconds the ledger may lag behind settling: spending more recent than this is left as
    # counted by the correction (the outbox ships usage within seconds).
    budget_reconcile_lag_s: float = 60.0

    @property
    def admin_url(self) -> str:
        """The admin store's URL: ``admin_database_url``, or SQLite beside ``state_path``."""
        if self.admin_database_url:
            return self.admin_database_url
        return f"sqlite:///{Path(self.state_path).with_suffix('.sqlite3')}"

    def __post_init__(self) -> None:
        SCOPES.check_grants(self.auth_tokens, self.client_certs, self.tls)
        providers = {p.name for p in self.providers}
        if len(providers) != len(self.providers):
            raise ConfigError("providers: provider names must be unique")
        try:
            allowed = parse_allow_list(self.allowed_private_hosts)
        except UrlRefused as exc:
            raise ConfigError(f"allowed_private_hosts{exc}") from None
        for i, provider in enumerate(self.providers):
            if provider.kind == "simulated":
                continue
            try:
                check_url_static(provider.base_url, allowed)
            except UrlRefused as exc:
                raise ConfigError(f"providers[{i}].base_url: {exc}") from None
        if self.outbox_durable_timeout_ms < 0:
            raise ConfigError(
                "outbox_durable_timeout_ms: must not be negative, "
                f"got {self.outbox_durable_timeout_ms}"
            )
        if self.max_connection_age_s < 0:
            raise ConfigError(
                f"max_connection_age_s: must not be negative, got {self.max_connection_age_s}"
            )
        ConfigRules(self.budgets)  # unique ids
        if self.budget_default_max_output_tokens < 1:
            raise ConfigError(
                "budget_default_max_output_tokens: expected at least 1, "
                f"got {self.budget_default_max_output_tokens}"
            )
        for name in ("budget_reservation_ttl_s", "budget_reconcile_lag_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: expected a positive number, got {getattr(self, name)}")
        if not 0 <= self.budget_lease_percent <= 100:
            raise ConfigError(
                f"budget_lease_percent: expected 0 to 100, got {self.budget_lease_percent}"
            )
        if not self.budget_reconcile_interval_s >= 0:
            raise ConfigError(
                "budget_reconcile_interval_s: expected 0 (never) or more, "
                f"got {self.budget_reconcile_interval_s}"
            )
        if self.rate_limit_replicas < 1:
            raise ConfigError(
                f"rate_limit_replicas: must be at least 1, got {self.rate_limit_replicas}"
            )
        scheme = urlsplit(self.admin_database_url).scheme
        if self.admin_database_url and scheme not in _ADMIN_SCHEMES:
            raise ConfigError(
                "admin_database_url: expected a postgresql:// or sqlite:/// URL, got scheme "
                f"{scheme!r}"
            )
        if not (math.isfinite(self.admin_resync_interval_s) and self.admin_resync_interval_s > 0):
            raise ConfigError(
                "admin_resync_interval_s: expected a positive number of seconds, got "
                f"{self.admin_resync_interval_s}"
            )
        if self.drain_delay_s < 0:
            raise ConfigError(f"drain_delay_s: must not be negative, got {self.drain_delay_s}")
        if self.max_receive_message_bytes <= 0:
            raise ConfigError(
                f"max_receive_message_bytes: must be positive, got {self.max_receive_message_bytes}"
            )
        if (idle := self.retry.stream_idle_timeout_s) < 0:
            raise ConfigError(f"retry.stream_idle_timeout_s: must not be negative, got {idle}")
        if self.max_response_bytes <= 0:
            raise ConfigError(
                f"max_response_bytes: must be positive, got {self.max_response_bytes}"
            )
        names: set[str] = set()
        kinds = {p.name: p.kind for p in self.providers}
        embedding = {n for m in self.models if m.embedding for n in (m.name, *m.aliases)}
        for i, model in enumerate(self.models):
            if model.provider and model.provider not in providers:
                raise ConfigError(f"models[{i}].provider: unknown provider {model.provider!r}")
            for j, deployment in enumerate(model.deployments):
                if deployment.provider and deployment.provider not in providers:
                    raise ConfigError(
                        f"models[{i}].deployments[{j}].provider: unknown provider "
                        f"{deployment.provider!r}"
                    )
            for named, served in model.served_as():
                if model.embedding and kinds[served.provider] not in EMBEDDING_KINDS:
                    where = "" if named is None else f" (deployment {named.name})"
                    raise ConfigError(
                        f"models[{i}].embedding: provider kind {kinds[served.provider]!r}"
                        f"{where} has no embeddings API (one of {', '.join(EMBEDDING_KINDS)})"
                    )
            for name in (model.name, *model.aliases):
                if name in names or name == "auto":
                    raise ConfigError(f"models[{i}].name: duplicate model name {name!r}")
                names.add(name)
        _check_fallbacks(self.models)
        for i, name in enumerate(self.default_chain):
            if name not in names:
                raise ConfigError(f"default_chain[{i}]: unknown model {name!r}")
            if name in embedding:
                raise ConfigError(
                    f"default_chain[{i}]: {name!r} is an embedding model (chat never uses one)"
                )
        if self.classification_mode not in CLASSIFICATION_MODES:
            raise ConfigError(
                f"classification_mode: expected one of {', '.join(CLASSIFICATION_MODES)}, "
                f"got {self.classification_mode!r}"
            )
        if self.classifier_model in embedding:
            raise ConfigError(
                f"classifier_model: {self.classifier_model!r} is an embedding model, not a chat one"
            )
        if self.classification_mode != "keywords" and self.classifier_model not in names:
            raise ConfigError(
                f"classifier_model: {self.classification_mode} mode needs a registry model, "
                f"got {self.classifier_model!r}"
            )
        for c, category in enumerate(self.categories):
            for i, name in enumerate(category.chain):
                if name not in names:
                    raise ConfigError(f"categories[{c}].chain[{i}]: unknown model {name!r}")
        wanted = self.learned.embedding_model
        if wanted and wanted not in embedding:
            problem = "a chat model, not an embedding one" if wanted in names else "unknown model"
            raise ConfigError(
                f"learned.embedding_model: {problem} {wanted!r} (a registry model with "
                "embedding = true)"
            )
        _check_evaluation(self.evaluation, names, embedding)


def _check_evaluation(evaluation: EvaluationConfig, names: set[str], embedding: set[str]) -> None:
    """The judge and reference models of an enabled evaluation are registry chat models."""
    if not evaluation.enabled:
        return
    keys = ["judge_model"] + (["reference_model"] if evaluation.mode == "pairwise" else [])
    for key in keys:
        name = getattr(evaluation, key)
        if name not in names:
            raise ConfigError(f"evaluation.{key}: unknown model {name!r}")
        if name in embedding:
            raise ConfigError(f"evaluation.{key}: {name!r} is an embedding model, not a chat one")


def _check_fallbacks(models: tuple[ModelConfig, ...]) -> None:
    """Each model's fallbacks name other known models, each once (aliases resolved)."""
    canonical = {n: m.name for m in models for n in (m.name, *m.aliases)}
    for i, model in enumerate(models):
        seen = {model.name}
        for j, name in enumerate(model.fallbacks):
            target = canonical.get(name, "")
            if not target or target in seen:
                problem = "names the model itself" if target == model.name else "repeats a model"
                problem = problem if target else "unknown model"
                raise ConfigError(f"models[{i}].fallbacks[{j}]: {problem} {name!r}")
            seen.add(target)


def with_env_providers(config: RouterConfig, environ: Mapping[str, str]) -> RouterConfig:
    """Add the real providers whose API key is set, ahead of the simulated default chain.

    Only applies to the built-in provider set: a config file that lists providers is taken
    as written.
    """
    if config.providers != _default_providers():
        return config
    providers = list(config.providers)
    models = list(config.models)
    chain: list[str] = []
    for name, kind, url, key_env, known in ENV_PROVIDERS:
        if not environ.get(key_env):
            continue
        providers.append(ProviderConfig(name=name, kind=kind, base_url=url, api_key_env=key_env))
        for model, window, quality in known:
            registry_name = model if name != "openrouter" else f"openrouter/{model}"
            models.append(
                ModelConfig(
                    name=registry_name,
                    provider=name,
                    upstream_model=model,
                    context_window=window,
                    quality=quality,
                    tools=True,
                    vision=True,
                    json_mode=True,
                )
            )
            chain.append(registry_name)
    if not chain:
        return config
    return replace(
        config,
        providers=tuple(providers),
        models=tuple(models),
        default_chain=(*chain, *config.default_chain),
    )


def _refuse_empty_deployments(section: Any) -> None:
    """``deployments = []`` is a mistake, not "no deployments": the dataclass cannot tell an
    empty list from a key left out, so the document is read here (README, "Deployments")."""
    models = section.get("models") if isinstance(section, dict) else None
    if not isinstance(models, list):
        return
    for i, model in enumerate(models):
        if isinstance(model, dict) and model.get("deployments") == []:
            raise ConfigError(
                f"router.models[{i}].deployments: the list is empty; list at least one "
                "deployment, or leave the key out for one implicit deployment on the "
                "model's provider"
            )


def load_config(
    path: str | None = None,
    document: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RouterConfig:
    """Load ``[router]`` from the file at ``path`` (or ``$LLMROUTER_CONFIG``) and environment."""
    env = os.environ if environ is None else environ
    document = document if document is not None else read_file(path)
    router_section = document.get("router")
    if isinstance(router_section, dict) and "state" in router_section:
        raise ConfigError("router.state: shared state is the top-level [state] section")
    # LLMROUTER_ROUTER_STATE_BACKEND... would read as keys of a [router.state] table; never
    # router.state_path's LLMROUTER_ROUTER_STATE_PATH.
    nested = {f"LLMROUTER_ROUTER_STATE_{f.name.upper()}" for f in fields(StateConfig)}
    misplaced = sorted(nested.intersection(env))
    if misplaced:
        raise ConfigError(
            f"{misplaced[0]}: shared state is the top-level [state] section "
            f"(LLMROUTER_STATE_{misplaced[0].removeprefix('LLMROUTER_ROUTER_STATE_')})"
        )
    _refuse_empty_deployments(router_section)
    loaded = load_section(RouterConfig, "router", document, env, shortcuts=ENV_SHORTCUTS)
    loaded = replace(loaded, state=load_state_config(document, env))
    own = configured_int(document, "router", "max_receive_message_bytes", env)
    try:
        receive = router_receive_limit(own, document, env)
    except ConfigError as exc:
        raise ConfigError(f"router.{exc}") from None
    if receive is not None:
        loaded = replace(loaded, max_receive_message_bytes=receive)
    shortcut = env.get(AUTH_TOKENS_ENV, "")
    if shortcut.strip():
        grants = parse_token_grants(shortcut, AUTH_TOKENS_ENV)
        try:
            loaded = replace(loaded, auth_tokens=(*loaded.auth_tokens, *grants))
        except ConfigError as exc:
            raise ConfigError(f"{AUTH_TOKENS_ENV}: {exc}") from None
    return with_env_providers(loaded, env)
