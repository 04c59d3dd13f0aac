"""The gateway's Starlette app: its routes, the guard every endpoint runs behind, and the
lifespan that holds the gRPC channels.

Front doors, each also without ``/v1`` (gateway.front_doors): ``POST /v1/chat/completions``
(JSON or SSE), ``POST /v1/messages`` (JSON or SSE) and ``POST /v1/messages/count_tokens``
(Anthropic's Messages API, errors in its shape), ``POST /v1/responses`` (OpenAI's Responses
API, stateless; JSON or SSE), ``POST /v1/embeddings``, ``POST /v1/route``, ``POST /v1/feedback``
(a score of an answer, gateway.feedback), ``GET /v1/models``,
``GET /v1/models/{model}``. Reports and operator controls, ``/v1`` only: ``GET /v1/costs``, ``GET
/v1/usage``, ``GET /v1/requests`` (and ``.csv``), ``GET /v1/dashboard/summary`` and
``/v1/admin/...`` (API key required when auth is on); ``GET /healthz``, ``GET /readyz``, ``GET
/openapi.json``, ``GET /metrics`` and the dashboard's page and static files (open: they hold
no data).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import grpc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from gateway import openapi
from gateway.admin_keys import KeyEndpoints
from gateway.auth import KeyRing
from gateway.channels import ChannelSecurity, Upstreams, open_upstreams
from gateway.chat import RouterEndpoints
from gateway.config import GatewayConfig
from gateway.context import RequestContext, client_request_id, request_timeout
from gateway.dashboard import DashboardPage, DashboardSummary, static_files
from gateway.direct import GatewayApp
from gateway.embeddings import EmbeddingsEndpoints
from gateway.errors import (
    ADMIN_NEEDED,
    GENERIC_MESSAGE,
    GatewayError,
    PermissionDenied,
    from_rpc_error,
)
from gateway.feedback import FeedbackEndpoints
from gateway.front_doors import front_door, operator_route, route_labels
from gateway.messages import MessagesEndpoints
from gateway.messages_errors import anthropic_error_response
from gateway.observability import GatewayMetrics, PrometheusMiddleware, TracingMiddleware
from gateway.probes import Health
from gateway.rate_limit import KeyLimits
from gateway.request_log import RequestLogEndpoints
from gateway.responses import ResponsesEndpoints
from gateway.streaming import ClientGone
from gateway.usage import Clock, UsageEndpoints
from gateway.web import (
    JSONResponse,
    RequestIdMiddleware,
    error_response,
    http_exception,
    request_id,
)
from llmrouter.rate_limits import RateLimiter
from llmrouter.serving import StartupError
from llmrouter.shared_state import SharedState, open_state
from llmrouter.telemetry import tracing_enabled

__all__ = ["AppOptions", "create_app"]

logger = logging.getLogger(__name__)

_Endpoint = Callable[[Request, RequestContext], Awaitable[Response]]
_OpenEndpoint = Callable[[Request], Awaitable[Response]]
_Handler = Callable[[Request], Awaitable[Response]]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class AppOptions:
    """What the app takes from its host besides the config (tests pass fakes here)."""

    # A channel to the router, owned by the caller, instead of one to router_addresses.
    router_channel: grpc.aio.Channel | None = None
    # A channel to the metrics service, owned by the caller, instead of one to metrics_address.
    metrics_channel: grpc.aio.Channel | None = None
    # Where keys named by api_keys[].env are read; None means os.environ.
    environ: Mapping[str, str] | None = None
    # Now, as an aware UTC datetime (for ``since`` windows).
    clock: Clock = _utc_now
    # Seconds from an arbitrary start, for the ages of cached figures.
    monotonic: Callable[[], float] = time.monotonic
    # The shared state, owned by the caller, instead of one opened from config.state.
    state: SharedState | None = None


def create_app(config: GatewayConfig, options: AppOptions | None = None) -> GatewayApp:
    """The gateway app for ``config``.

    Raises ConfigError when auth is on and no key can be loaded.
    """
    options = options or AppOptions()
    keys = KeyRing.from_config(config, options.environ)
    security = ChannelSecurity.from_config(config, options.environ)
    limiter = RateLimiter(
        config.state,
        replicas=config.rate_limit_replicas,
        lease_percent=config.rate_limit_lease_percent,
        environ=options.environ,
    )
    limits = KeyLimits(config, limiter)
    upstreams: list[Upstreams] = []  # set while the lifespan runs
    # Opened here so that a missing Redis password fails start-up with its key's name; no
    # connection is made before the first command.
    state = options.state or open_state(config.state, options.environ)
    shared: list[SharedState] = []  # set while the lifespan runs

    def current() -> Upstreams:
        if not upstreams:  # only when the app runs without its lifespan
            raise GatewayError("The gateway is not started.", http_status=503)
        return upstreams[0]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            try:
                opened = await stack.enter_async_context(
                    open_upstreams(
                        config.router_addresses,
                        config.metrics_address,
                        router_channel=options.router_channel,
                        metrics_channel=options.metrics_channel,
                        security=security,
                    )
                )
            except StartupError as exc:
                # uvicorn only says "startup failed"; the server reports this reason instead.
                app.state.startup_error = exc
                raise
            upstreams.append(opened)
            if keys.enabled and opened.keys is not None:
                # Virtual keys: one refresh before serving (bounded: a router still starting
                # must not hold the gateway), then every 250 ms.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await keys.virtual.refresh(opened.keys)
                refresher = asyncio.create_task(
                    keys.virtual.run(lambda: opened.keys), name="llmrouter-virtual-keys"
                )
                stack.push_async_callback(_cancel, refresher)
            if options.state is None:
                stack.push_async_callback(state.close)
            shared.append(state)
            try:
                yield
            finally:
                upstreams.clear()
                await limiter.close()
                shared.clear()

    # Handlers that answer every failure themselves: the ones GatewayApp may serve directly.
    answering: set[_Handler] = set()

    def guarded(endpoint: _OpenEndpoint, *, anthropic: bool = False) -> _Handler:
        handler = _guarded(endpoint, anthropic=anthropic)
        answering.add(handler)
        return handler

    def protected(
        endpoint: _Endpoint, *, admin_only: bool = False, anthropic: bool = False
    ) -> _Handler:
        async def run(request: Request) -> Response:
            caller = keys.authenticate(request.headers)
            if admin_only and not caller.admin:
                raise PermissionDenied(ADMIN_NEEDED)
            ctx = RequestContext(
                request_id=request_id(request),
                api_key_id=caller.api_key_id,
                client_request_id=client_request_id(request.headers),
                timeout_s=request_timeout(request.headers, config.request_timeout_s),
                admin=caller.admin,
                team_id=caller.team_id,
                allowed_models=caller.allowed_models,
                rpm_limit=caller.rpm_limit,
                tpm_limit=caller.tpm_limit,
            )
            return await endpoint(request, ctx)

        return guarded(run, anthropic=anthropic)

    def anthropic_door(endpoint: _Endpoint) -> _Handler:
        # Anthropic's clients read its error shape; the key comes as x-api-key.
        return protected(endpoint, anthropic=True)

    def admin_route(endpoint: _Endpoint) -> _Handler:
        return protected(endpoint, admin_only=True)

    chat = RouterEndpoints(config, current, limits)
    messages = MessagesEndpoints(config, current, limits)
    responses = ResponsesEndpoints(config, current, limits)
    embeddings = EmbeddingsEndpoints(config, current, limits)
    feedback = FeedbackEndpoints(config, current, limits)
    usage = UsageEndpoints(current, options.clock)
    request_log = RequestLogEndpoints(current, options.clock, config.trace_link())
    health = Health(
        current,
        timeout_s=config.readiness_timeout_s,
        auth_enabled=keys.enabled,
        state=lambda: shared[0] if shared else None,
    )

    async def refresh_keys() -> None:
        # A key changed through this gateway works (or stops working) here at once.
        opened = current()
        if keys.enabled and opened.keys is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await keys.virtual.refresh(opened.keys)

    admin = KeyEndpoints(current, refresh_keys)
    summary = DashboardSummary(
        current,
        options.clock,
        jaeger_url=config.jaeger_url,
        trace_link=config.trace_link(),
        router_replicas=len(config.router_addresses),
        monotonic=options.monotonic,
    )
    page = DashboardPage(auth_enabled=keys.enabled)
    document = openapi.document(auth_enabled=keys.enabled)
    prometheus = GatewayMetrics()
    prometheus.registry.register(
        limiter.collector(
            "llmrouter_gateway_rate_limit_fallbacks",
            "Per-key rate-limit decisions taken on this replica's share (limit // "
            "rate_limit_replicas) because the [state] store did not answer",
        )
    )

    async def openapi_json(request: Request) -> Response:
        """``GET /openapi.json``: the OpenAPI 3.1 description of this app."""
        return JSONResponse(document)

    # Model and provider names may hold a '/' (openrouter/...), hence the path converter.
    model = "/v1/admin/models/{name:path}"
    routes: list[BaseRoute] = [
        # Front doors: each at /v1/... and at the same path without /v1 (gateway.front_doors).
        *front_door("/v1/chat/completions", protected(chat.chat_completions), methods=["POST"]),
        *front_door("/v1/messages", anthropic_door(messages.messages), methods=["POST"]),
        *front_door(
            "/v1/messages/count_tokens", anthropic_door(messages.count_tokens), methods=["POST"]
        ),
        *front_door("/v1/responses", protected(responses.responses), methods=["POST"]),
        *front_door("/v1/embeddings", protected(embeddings.embeddings), methods=["POST"]),
        *front_door("/v1/route", protected(chat.route), methods=["POST"]),
        *front_door("/v1/feedback", protected(feedback.feedback), methods=["POST"]),
        *front_door("/v1/models", protected(chat.models), methods=["GET"]),
        *front_door("/v1/models/{model:path}", protected(chat.model), methods=["GET"]),
        # Reports and operator controls: /v1 only.
        operator_route("/v1/costs", protected(usage.costs), methods=["GET"]),
        operator_route("/v1/usage", protected(usage.usage), methods=["GET"]),
        operator_route("/v1/requests", protected(request_log.list), methods=["GET"]),
        operator_route("/v1/requests.csv", protected(request_log.csv), methods=["GET"]),
        operator_route("/v1/dashboard/summary", protected(summary.summary), methods=["GET"]),
        # Admin routes change routing for every tenant: admin keys only.
        operator_route("/v1/admin/models", admin_route(admin.list_models), methods=["GET"]),
        operator_route(f"{model}/enabled", admin_route(admin.set_model_enabled), methods=["POST"]),
        operator_route(
            f"{model}/reset-breaker", admin_route(admin.reset_breaker), methods=["POST"]
        ),
        operator_route("/v1/admin/providers", admin_route(admin.list_providers), methods=["GET"]),
        operator_route("/v1/admin/audit", admin_route(admin.audit), methods=["GET"]),
        operator_route("/v1/admin/alerts", admin_route(admin.alerts), methods=["GET"]),
        operator_route("/v1/admin/budgets", admin_route(admin.budgets), methods=["GET"]),
        operator_route("/v1/admin/evaluation", admin_route(admin.run_evaluation), methods=["POST"]),
        operator_route("/v1/admin/quality", admin_route(admin.quality), methods=["GET"]),
        operator_route(
            "/v1/admin/providers/{name:path}/enabled",
            admin_route(admin.set_provider_enabled),
            methods=["POST"],
        ),
        # One route per path, so a 405's Allow header lists every method of the path.
        operator_route(
            "/v1/admin/categories", admin_route(admin.categories), methods=["GET", "POST"]
        ),
        operator_route(
            "/v1/admin/categories/{name}", admin_route(admin.category), methods=["PUT", "DELETE"]
        ),
        operator_route("/v1/admin/keys", admin_route(admin.keys), methods=["GET", "POST"]),
        operator_route("/v1/admin/keys/{id}", admin_route(admin.key), methods=["GET", "PATCH"]),
        operator_route("/v1/admin/keys/{id}/rotate", admin_route(admin.rotate), methods=["POST"]),
        operator_route("/v1/admin/keys/{id}/revoke", admin_route(admin.revoke), methods=["POST"]),
        operator_route("/v1/admin/teams", admin_route(admin.teams), methods=["GET", "POST"]),
        operator_route("/v1/admin/teams/{id}", admin_route(admin.team), methods=["PATCH"]),
        Route("/healthz", guarded(health.healthz), methods=["GET"]),
        Route("/readyz", guarded(health.readyz), methods=["GET"]),
        Route("/openapi.json", guarded(openapi_json), methods=["GET"]),
        Route("/metrics", prometheus.endpoint, methods=["GET"]),
        Route("/dashboard", guarded(page.page), methods=["GET"]),
        Mount("/dashboard/static", app=static_files(), name="dashboard-static"),
    ]
    # Metric and span labels: each route's template (parameters never become label values);
    # an alias counts under its /v1 route's.
    labels = route_labels(routes)
    middleware = [Middleware(PrometheusMiddleware, metrics=prometheus, labels=labels)]
    direct: dict[tuple[str, str], _Handler] = {}
    if tracing_enabled():
        middleware.insert(0, Middleware(TracingMiddleware, labels=labels))
    else:  # the whole stack, so that the span covers it; otherwise straight to the endpoint
        direct = {
            (method, r.path): r.endpoint
            for r in routes
            if isinstance(r, Route) and r.endpoint in answering and not r.param_convertors
            for method in r.methods or ()
            if method != "HEAD"  # Starlette's own addition to GET routes: left to it
        }
    middleware.append(Middleware(RequestIdMiddleware))
    app = GatewayApp(
        direct=direct,
        metrics=prometheus,
        labels=labels,
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception},
    )
    # For the start-up lines: where the keys' limits are counted ("" when no key has one).
    app.state.rate_limits = limiter.describe() if limits.enabled else ""
    return app


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _guarded(endpoint: _OpenEndpoint, *, anthropic: bool = False) -> _Handler:
    """Turn every failure of ``endpoint`` into an error response: OpenAI's shape, or with
    ``anthropic`` Anthropic's (gateway.messages_errors)."""

    def respond(request: Request, error: GatewayError) -> Response:
        if anthropic:
            return anthropic_error_response(error, request_id(request))
        return error_response(error)

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except GatewayError as exc:
            return respond(request, exc)
        except grpc.aio.AioRpcError as exc:
            return respond(request, from_rpc_error(exc))
        except (ClientGone, ClientDisconnect):
            return Response(status_code=499)  # nobody is listening; for the access log
        except Exception:
            logger.exception("unexpected error in %s %s", request.method, request.url.path)
            return respond(request, GatewayError(GENERIC_MESSAGE))

    return run
