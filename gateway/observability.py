"""Gateway observability: a SERVER span per HTTP request (honouring the client's
``traceparent``) and Prometheus request metrics served at ``/metrics``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.semconv.attributes import http_attributes, url_attributes
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GatewayMetrics", "PrometheusMiddleware", "TracingMiddleware", "route_label"]

_tracer = trace.get_tracer("llmrouter.gateway")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class TracingMiddleware:
    """Pure ASGI: the span covers the whole response, streamed bodies included."""

    def __init__(self, app: ASGIApp, labels: Mapping[str, str]) -> None:
        """``labels``: route template -> label (gateway.front_doors.route_labels)."""
        self.app = app
        self._known = labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        # Named by the path until routing has matched a route (then by its template).
        path = self._known.get(scope["path"], "other")
        with _tracer.start_as_current_span(
            f"{method} {path}",
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={
                http_attributes.HTTP_REQUEST_METHOD: method,
                url_attributes.URL_PATH: scope["path"],
            },
        ) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    route = route_label(scope, self._known)
                    span.update_name(f"{method} {route}")
                    span.set_attribute(http_attributes.HTTP_ROUTE, route)
                    status = int(message["status"])
                    span.set_attribute(http_attributes.HTTP_RESPONSE_STATUS_CODE, status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, send_with_status)


def route_label(scope: Scope, known: Mapping[str, str]) -> str:
    """The label of the route template of the request in ``scope``
    (``/v1/admin/categories/{name}``, path convertors left out, as OpenAPI writes it; an
    alias's is its ``/v1`` route's), or ``other`` when no route of ``known`` (template ->
    label) matched: a label with a bounded set of values, whatever paths clients send.

    Starlette's router sets ``scope["route"]`` on a full match, and on a path that matched
    with another method (the 405); the response starts after that, so this is read then.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    return known.get(template, "other") if isinstance(template, str) else "other"


class GatewayMetrics:
    """Request counters and latency by route, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "llmrouter_gateway_requests",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llmrouter_gateway_request_duration_seconds",
            "Time to the response headers (streams: to the first byte)",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

        # Label children by (route, method, status) and by route: bound once, not per request.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[str, Any] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one response of ``route`` (a route template or ``other``) and its time to the
        response headers."""
        timed = self._timed.get(route)
        if timed is None:
            timed = self._timed[route] = self.latency.labels(route)
        timed.observe(seconds)
        counted = self._counted.get((route, method, status))
        if counted is None:
            counted = self.requests.labels(route, method, str(status))
            self._counted[(route, method, status)] = counted
        counted.inc()

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics``: Prometheus exposition."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class PrometheusMiddleware:
    """Counts requests and time to response headers, labelled by route template (parameters
    never reach a label)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, labels: Mapping[str, str]) -> None:
        """``labels``: route template -> label (gateway.front_doors.route_labels)."""
        self.app = app
        self._metrics = metrics
        self._known = labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        metrics = self._metrics
        known = self._known

        async def send_and_count(message: Any) -> None:
            if message["type"] == "http.response.start":
                route = route_label(scope, known)
                metrics.observe(route, method, message["status"], time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, send_and_count)
