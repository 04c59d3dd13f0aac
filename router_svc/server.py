"""The router process: wires providers, registry, routing engine, usage outbox and gRPC."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import grpc

from llmrouter.access import Authorizer, require_credentials
from llmrouter.prometheus import MetricsEndpoint, serve_metrics
from llmrouter.rate_limits import RateLimiter
from llmrouter.security import channel_factory, read_token, server_credentials
from llmrouter.serving import (
    GrpcServer,
    StartupError,
    connection_age_options,
    message_size_options,
    run_main,
    start_grpc_server,
)
from llmrouter.shared_state import SharedState, StateConfig, open_state
from llmrouter.telemetry import configure_tracing
from llmrouter.v1 import (
    metrics_service_pb2_grpc,
    router_admin_service_pb2_grpc,
    router_service_pb2_grpc,
)

from .admin import Admin
from .admin_servicer import ADMIN_SERVICE_NAME, AdminServicer, anonymous_identity
from .admin_store import AdminStore, AdminStoreError
from .admin_sync import AdminSync
from .alerts import Alerter, Delivery
from .alerts.budget_hook import BudgetAlerts
from .budgets import Budgets, ConfigRules, Reconciler
from .budgets.runtime import RuntimeRules
from .cache.serving import CachingEngine
from .cache.store import AnswerStore, LruAnswers, SharedAnswers
from .config import SCOPES, RouterConfig, load_config
from .evaluation.job import Evaluator
from .evaluation.prom import EvaluationCollector
from .evaluation.sampler import Sampler, SamplingEngine
from .learned.estimates import CategoryEstimates, ConfiguredQuality, FromEstimates
from .learned.follower import FeedbackFollower
from .learned.labelled import LabelledSetLoader, check_labelled_set
from .learned.predictor import LearnedPredictor
from .prom import RouterMetrics
from .providers import Provider, create_provider
from .public_errors import PublicErrors
from .quality import Priors, QualityEstimates, QualityFollower
from .quotas import ModelQuotas
from .registry import Registry
from .routing.classify import Classifier
from .routing.embed import Embedder
from .routing.failover import Engine
from .routing.outcome import no_wait
from .routing.policy import Policy
from .routing.quality import QualityRouting
from .routing.retry import RetryBudgets
from .routing.setup import ask_model, categories_of
from .servicer import SERVICE_NAME, RouterServicer
from .shared_health import SharedHealth
from .translate.budgets import ledger_spender
from .translate.evaluation import feedback_sender
from .translate.feedback import feedback_reader
from .translate.quality import sums_reader
from .urls import AddressPolicy, parse_allow_list
from .usage import MAX_BATCH_BYTES, UsageEvent, UsageOutbox

__all__ = ["RunningRouter", "category_estimates", "main", "serve", "start"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RunningRouter:
    """A started router: its port, outbox and the means to stop it gracefully."""

    config: RouterConfig
    grpc: GrpcServer
    outbox: UsageOutbox
    providers: list[Provider]
    registry: Registry
    engine: Engine
    admin: Admin
    metrics: RouterMetrics
    prometheus: MetricsEndpoint | None
    # The response cache in front of ``engine``.
    cache: CachingEngine
    # The shared store ([state]: embedded or redis), closed on stop.
    state: SharedState
    # Applies admin changes made through other replicas (pushed, and resynced).
    admin_sync: AdminSync
    # Breakers and statistics shared with the other replicas (None: [state] is embedded).
    shared_health: SharedHealth | None = None
    # The models' and providers' rpm / tpm quotas (None when none has one).
    quotas: ModelQuotas | None = None
    # Budget, error-rate and latency alerts (None: router.alerts.enabled is false).
    alerts: Alerter | None = None
    # The key and team budgets (None when none is configured), and their correction from
    # the ledger.
    spend: Budgets | None = None
    reconciler: Reconciler | None = None
    # The channel the reconciler and the quality follower query the ledger on (and
    # evaluation sends grades on).
    ledger_channel: Any = None
    # Evaluation jobs (None: router.evaluation.enabled is false) and the sampler feeding them
    # (None as well while router.store_content is false).
    evaluator: Evaluator | None = None
    sampler: Sampler | None = None
    # Keeps the quality estimates (policy.quality) current (None: [router.quality] is off).
    quality: QualityFollower | None = None
    # The learned predictor ([router.learned]; None when not configured), its labelled set's
    # loading and its learning from feedback.
    predictor: LearnedPredictor | None = None
    labelled: LabelledSetLoader | None = None
    feedback: FeedbackFollower | None = None

    @property
    def prometheus_port(self) -> int:
        """Port of /metrics (0 when disabled)."""
        return self.prometheus.port if self.prometheus else 0

    @property
    def port(self) -> int:
        """The bound gRPC port."""
        return self.grpc.port

    async def stop(self, grace: float | None = None, drain_delay_s: float = 0.0) -> None:
        """NOT_SERVING (still serving for ``drain_delay_s``), finish in-flight calls, close
        upstream pools, flush usage."""
        await self.grpc.stop(
            self.config.shutdown_grace_s if grace is None else grace, drain_delay_s
        )
        # Before the providers close: a scheduled run's judge calls end here, and the last
        # sampled answers are written while the store is open.
        if self.evaluator is not None:
            await self.evaluator.stop()
        if self.sampler is not None:
            await self.sampler.stop()
        # Before the providers close too: the labelled set's embed calls use them.
        if self.labelled is not None:
            await self.labelled.stop()
        if self.feedback is not None:
            await self.feedback.stop()
        for provider in self.providers:
            await provider.aclose()
        await self.outbox.close()
        if self.alerts is not None:
            await self.alerts.stop()
        if self.shared_health is not None:
            await self.shared_health.stop()
        if self.quotas is not None:
            await self.quotas.limiter.close()
        if self.reconciler is not None:
            await self.reconciler.stop()
        if self.quality is not None:
            await self.quality.stop()
        if self.ledger_channel is not None:
            await self.ledger_channel.close(grace=None)
        if self.spend is not None:
            await self.spend.close()
        await self.admin_sync.stop()
        await self.state.close()
        await self.admin.store.close()
        if self.prometheus is not None:
            self.prometheus.stop()


async def start(config: RouterConfig, state_config: StateConfig | None = None) -> RunningRouter:
    """Start a router from ``config`` (port 0 picks a free port); ``state_config``: [state]
    when given (otherwise ``config.state``): where quotas are counted, answers cached and
    breakers shared.

    Raises ConfigError when ``config.host`` reaches beyond loopback without credentials, or a
    token variable, certificate file or ``router.learned.labelled_set`` file is missing.
    """
    if state_config is not None:
        config = replace(config, state=state_config)
    # Credentials first: a missing token or certificate must fail before anything is opened.
    authorizer = Authorizer.from_config(
        SCOPES,
        "router",
        auth_token_envs=config.auth_token_envs,
        auth_tokens=config.auth_tokens,
        client_certs=config.client_certs,
    )
    require_credentials("router", config.host, tokens=authorizer is not None, tls=config.tls)
    credentials = server_credentials(config.tls, "router")
    webhooks = config.alerts.receivers()  # an unset secret variable fails here
    if config.learned.enabled and config.learned.labelled_set:
        check_labelled_set(config.learned.labelled_set)  # a missing file fails here
    # Before anything is opened too: a Redis password variable that is not set fails here.
    # Always built: virtual keys and teams may gain budgets at runtime (RuntimeRules, set
    # once the admin store is loaded). A request no rule applies to costs one lookup.
    config_rules = ConfigRules(config.budgets)
    spend: Budgets | None = Budgets(
        config_rules,
        config.state,
        replicas=config.rate_limit_replicas,
        default_max_output_tokens=config.budget_default_max_output_tokens,
        reservation_ttl_s=config.budget_reservation_ttl_s,
        lease_percent=config.budget_lease_percent,
    )
    quotas = None
    if any(
        m.rpm or m.tpm or any(d.rpm or d.tpm for d in m.deployments) for m in config.models
    ) or any(p.rpm or p.tpm for p in config.providers):
        limiter = RateLimiter(config.state, replicas=config.rate_limit_replicas)
        quotas = ModelQuotas(limiter)
    metrics_channel = channel_factory(
        config.metrics_tls,
        token=read_token(config.metrics_token_env, "router.metrics_token_env"),
        key="router.metrics_tls",
        options=[("grpc.max_send_message_length", MAX_BATCH_BYTES + 1024)],
    )
    # Every new upstream connection is vetted against the same rules as base URLs.
    addresses = AddressPolicy(parse_allow_list(config.allowed_private_hosts))
    providers = {p.name: create_provider(p, addresses) for p in config.providers}
    registry = Registry(config.models, providers, breaker_policy=config.breaker)
    classifier = Classifier(
        (),
        mode=config.classification_mode,
        ask_model=ask_model(registry, config.classifier_model) if config.classifier_model else None,
        timeout_s=config.classifier_timeout_s,
        short_chat_chars=config.short_chat_chars,
    )
    policy = Policy(registry, categories_of(config), config.default_chain, classifier)
    estimates = None
    # On whenever usage goes to a metrics service: the scores live beside it.
    if config.quality.enabled and config.record_usage and config.metrics_address:
        estimates = QualityEstimates(config.quality, _priors(registry))
        estimates.prime((e.name, e.config.quality) for e in registry.entries())
        policy.quality = estimates
    predictor = LearnedPredictor(config.learned) if config.learned.enabled else None
    policy.bounded = QualityRouting(category_estimates(registry, estimates), predictor)
    outbox = UsageOutbox(
        config.outbox_path,
        config.metrics_address,
        batch_size=config.outbox_batch_size,
        flush_interval_s=config.outbox_flush_interval_ms / 1000,
        max_records=config.outbox_max_records,
        durable_timeout_s=config.outbox_durable_timeout_ms / 1000,
        channel=metrics_channel,
    )
    metrics = RouterMetrics(registry, outbox)
    # Read on each rewrite: a base URL changed through the admin RPCs is masked from then on.
    public_errors = PublicErrors(
        lambda: [(p.name, p.config.base_url) for p in providers.values()],
        expose=config.expose_provider_in_errors,
    )
    if spend is not None:
        metrics.registry.register(
            spend.collector(
                "llmrouter_budget_fallbacks",
                "Budget reservations decided on this replica's own counters (its share of each "
                "budget's room) because the [state] store did not answer",
            )
        )
    if quotas is not None:
        metrics.registry.register(
            quotas.limiter.collector(
                "llmrouter_rate_limit_fallbacks",
                "Model and provider quota decisions taken on this replica's share (quota // "
                "rate_limit_replicas) because the [state] store did not answer",
            )
        )
    retry = config.retry
    budgets = RetryBudgets(retry.budget_max_tokens, retry.budget_token_ratio)
    engine = Engine(
        policy,
        metrics.sink(outbox.submit if config.record_usage else None),
        capture_content=config.capture_content,
        openinference=config.openinference,
        durable=outbox.durable if config.record_usage else no_wait,
        retry=retry,
        budgets=budgets,
        quotas=quotas,
        spend=spend,
        public_errors=public_errors,
    )
    state = open_state(config.state)
    answers: AnswerStore = (
        SharedAnswers(state)
        if state.backend == "redis"
        else LruAnswers(config.cache.max_entries, config.cache.max_bytes)
    )
    cache = CachingEngine(
        engine,
        policy,
        answers,
        config.cache,
        # A hit's row goes to the ledger only: it made no upstream attempt, so it is not one
        # in llmrouter_attempts_total (llmrouter_cache_lookups_total counts it).
        outbox.submit if config.record_usage else _unrecorded,
        durable=outbox.durable if config.record_usage else no_wait,
        lookups=metrics.cache_lookup,
    )
    try:
        store = await AdminStore.open(config.admin_url)
    except AdminStoreError as exc:
        await _close_all(providers.values(), outbox, state)
        raise StartupError(f"admin store: {exc}") from None
    admin = Admin(
        registry,
        policy,
        store,
        providers=providers,
        allowed_private_hosts=config.allowed_private_hosts,
        budgets=budgets,
    )
    try:
        await admin.load(legacy_state_path=config.state_path)
    except AdminStoreError as exc:
        await _close_all(providers.values(), outbox, state, store)
        raise StartupError(f"admin store: {exc}") from None
    admin_sync = AdminSync(admin, state, config.admin_resync_interval_s)
    if spend is not None:
        spend.rules = RuntimeRules(config_rules, admin)
    alerter = None
    if config.alerts.enabled:
        alerter = Alerter(
            config.alerts,
            state,
            store.alerts,
            Delivery(webhooks, config.alerts),
            registry=metrics.registry,
        )
        if spend is not None:
            # Budget thresholds (50/80/100 % and the soft limit) alert from each settle.
            spend.observer = BudgetAlerts(alerter)
    try:
        sampler = await _sampling(config, store)
    except AdminStoreError as exc:
        await _close_all(providers.values(), outbox, state, store)
        raise StartupError(f"admin store: {exc}") from None
    # The metrics service's channel for the reconciler's ledger queries and the judge's grades.
    ledger_channel = metrics_channel(config.metrics_address)
    evaluator = None
    if config.evaluation.enabled:
        evaluator = Evaluator(
            config.evaluation,
            store.eval_samples,
            engine,
            registry,
            feedback_sender(metrics_service_pb2_grpc.MetricsServiceStub(ledger_channel)),
            store_content=config.store_content,
            deadline_s=config.default_deadline_s,
        )
        metrics.registry.register(EvaluationCollector(evaluator, sampler))
    embedder = Embedder(policy, engine.pacing, engine.sinks)
    if predictor is not None:
        predictor.attach(embedder.embed)
    servicer = RouterServicer(
        registry,
        policy,
        cache if sampler is None else SamplingEngine(cache, sampler),
        config.default_deadline_s,
        max_response_bytes=config.max_response_bytes,
        public_errors=public_errors,
        quotas=quotas,
        finished=alerter.request_finished if alerter is not None else None,
        spend=spend,
        embedder=embedder,
    )
    identify = authorizer.identify if authorizer is not None else anonymous_identity
    admin_servicer = AdminServicer(
        admin,
        config.classification_mode,
        identify,
        spend,
        evaluator=evaluator,
        quality=estimates,
    )

    def register(server: grpc.aio.Server) -> None:
        router_service_pb2_grpc.add_RouterServiceServicer_to_server(servicer, server)
        router_admin_service_pb2_grpc.add_RouterAdminServiceServicer_to_server(
            admin_servicer, server
        )

    try:
        server = await start_grpc_server(
            f"{config.host}:{config.port}",
            register,
            [SERVICE_NAME, ADMIN_SERVICE_NAME],
            options=[
                *message_size_options(config.max_receive_message_bytes, config.max_response_bytes),
                *connection_age_options(config.max_connection_age_s),
            ],
            credentials=credentials,
            authorizer=authorizer,
            port_setting="router.port",
        )
        prometheus = (
            serve_metrics(
                config.host,
                config.prometheus_port,
                metrics.registry,
                setting="router.prometheus_port",
            )
            if config.prometheus_port
            else None
        )
    except BaseException:
        await ledger_channel.close(grace=None)
        await _close_all(providers.values(), outbox, state, store)
        raise
    await outbox.start()
    admin_sync.start()
    if alerter is not None:
        alerter.start()
    shared_health = None
    if state.backend == "redis":
        # One process alone needs nothing shared: embedded keeps breakers exactly as before.
        shared_health = SharedHealth(registry, state)
        shared_health.start()
        metrics.registry.register(shared_health.collector())
    if sampler is not None:
        sampler.start()
    if evaluator is not None:
        evaluator.start()
    reconciler = follower = None
    ledger = metrics_service_pb2_grpc.MetricsServiceStub(ledger_channel)
    if spend is not None:
        reconciler = Reconciler(
            spend,
            ledger_spender(ledger),
            interval_s=config.budget_reconcile_interval_s,
            lag_s=config.budget_reconcile_lag_s,
        )
        reconciler.start()
    if estimates is not None:
        follower = QualityFollower(estimates, sums_reader(ledger, config.quality.timeout_s))
        follower.start()
    labelled = learner = None
    if predictor is not None:
        if config.learned.labelled_set:
            labelled = LabelledSetLoader(
                config.learned.labelled_set,
                predictor,
                registry,
                batch_size=config.learned.labelled_batch_size,
                progress=_say,
            )
            labelled.start()
        # Scores are stored against the ledger's usage records: none without them.
        if config.record_usage and config.metrics_address:
            learner = FeedbackFollower(
                predictor,
                feedback_reader(ledger),
                registry,
                interval_s=config.learned.feedback_poll_interval_s,
            )
            learner.start()
    return RunningRouter(
        config,
        server,
        outbox,
        list(providers.values()),
        registry,
        engine,
        admin,
        metrics,
        prometheus,
        cache,
        state,
        admin_sync,
        shared_health,
        quotas,
        alerter,
        spend,
        reconciler,
        ledger_channel,
        evaluator,
        sampler,
        follower,
        predictor,
        labelled,
        learner,
    )


def category_estimates(registry: Registry, estimates: QualityEstimates | None) -> CategoryEstimates:
    """The seam of quality-bounded routing: each model's quality estimate per category when
    no labelled neighbours decide (README, "Learned routing"): the estimates from feedback and
    evaluation scores when ``[router.quality]`` keeps them, else the configured quality."""
    if estimates is not None:
        return FromEstimates(estimates, registry)
    return ConfiguredQuality(registry)


async def _sampling(config: RouterConfig, store: AdminStore) -> Sampler | None:
    """The evaluation sampler, when evaluation is enabled and content may be stored; otherwise
    None, and any sample left from a run that stored content is deleted (samples exist only
    while both are on). Raises AdminStoreError when the store cannot be written."""
    evaluation = config.evaluation
    if evaluation.enabled and config.store_content:
        return Sampler(evaluation, store.eval_samples)
    if deleted := await store.eval_samples.purge():
        log.warning(
            "evaluation: %d stored samples deleted ungraded (router.evaluation.enabled and "
            "router.store_content are not both true)",
            deleted,
        )
    if evaluation.enabled:
        log.warning(
            "evaluation: enabled, but router.store_content is false: no answer is sampled or "
            "graded (set store_content = true to keep sampled prompts and answers until graded)"
        )
    return None


def _priors(registry: Registry) -> Priors:
    """Each model's configured quality, read from the registry when estimates are computed."""

    def prior(model: str) -> float | None:
        entry = registry.get(model)
        return None if entry is None else entry.config.quality

    return prior


def _say(line: str) -> None:
    """A line for the operator on stderr, as the start-up lines (no logging is configured)."""
    print(f"router: {line}", file=sys.stderr, flush=True)


def _unrecorded(event: UsageEvent) -> None:
    """The usage sink of a router that records no usage (``record_usage = false``)."""


async def _close_all(
    providers: Iterable[Provider],
    outbox: UsageOutbox,
    state: SharedState,
    store: AdminStore | None = None,
) -> None:
    """Release what :func:`start` opened before it failed."""
    for provider in providers:
        await provider.aclose()
    await outbox.close(timeout_s=0)
    await state.close()
    if store is not None:
        await store.close()


async def serve(
    config: RouterConfig, stop: asyncio.Event, state: StateConfig | None = None
) -> None:
    """Run until ``stop`` is set, then shut down gracefully."""
    tracing = configure_tracing("llmrouter-router")
    router = await start(config, state)
    names = ", ".join(e.name for e in router.registry.entries())
    if router.spend is not None and config.budgets:
        print(
            f"router: {len(config.budgets)} budgets counted {router.spend.describe()}",
            file=sys.stderr,
        )
    if router.quotas is not None:
        print(
            f"router: model rate limits counted {router.quotas.limiter.describe()}",
            file=sys.stderr,
        )
    print(
        f"router: listening on {config.host}:{router.port} (models: {names}; "
        f"usage to {config.metrics_address}; response cache {router.cache.describe()})",
        file=sys.stderr,
        flush=True,
    )
    reachable = "reachable" if await router.state.ping() else "NOT reachable (serving anyway)"
    print(
        f"router: shared state {router.state.describe()}, {reachable}; admin store "
        f"{router.admin.store.describe()} at version {router.admin.version}",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    await router.stop(drain_delay_s=config.drain_delay_s)
    tracing.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``llmrouter-router [--config PATH] [--port N]``."""
    parser = argparse.ArgumentParser(prog="llmrouter-router", description=__doc__)
    parser.add_argument("--config", help="TOML config file (default: $LLMROUTER_CONFIG)")
    parser.add_argument("--port", type=int, help="gRPC port (overrides the config)")
    args = parser.parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        config = load_config(args.config)
        if args.port is not None:
            config = replace(config, port=args.port)
        await serve(config, stop)

    return run_main("router", run)
