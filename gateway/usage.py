"""The endpoints served by MetricsService: ``GET /v1/costs`` and ``GET /v1/usage``, each
limited to the caller's own API key unless it is an admin key."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway import translate
from gateway.channels import Upstreams
from gateway.context import RequestContext
from gateway.errors import from_rpc_error
from gateway.streaming import until_disconnect
from gateway.usage_query import CostQuery, parse_cost_query, scoped
from gateway.web import JSONResponse

__all__ = ["Clock", "UsageEndpoints"]

_SERVICE = "metrics service"

# Now, as an aware UTC datetime (tests pass a fixed one).
Clock = Callable[[], dt.datetime]


class UsageEndpoints:
    """Cost reports and the usage overview, straight from the metrics service."""

    def __init__(self, upstreams: Callable[[], Upstreams], clock: Clock) -> None:
        self._upstreams = upstreams
        self._clock = clock

    def _query(self, request: Request, ctx: RequestContext, *, with_limit: bool) -> CostQuery:
        items = request.query_params.multi_items()
        query = parse_cost_query(items, now=self._clock(), with_limit=with_limit)
        return scoped(query, ctx.api_key_id, ctx.admin)

    async def costs(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/costs``: QueryCosts over the window, grouped and filtered as asked."""
        query = self._query(request, ctx, with_limit=False)
        call = self._upstreams().metrics.QueryCosts(
            translate.query_costs_request(query), timeout=ctx.timeout_s
        )
        try:
            response = await until_disconnect(request.receive, call, call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, _SERVICE) from exc
        return JSONResponse(translate.costs_json(response, query))

    async def usage(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/usage``: the cost report plus recent fallbacks and provider health."""
        query = self._query(request, ctx, with_limit=True)
        metrics = self._upstreams().metrics
        calls = [
            metrics.QueryCosts(translate.query_costs_request(query), timeout=ctx.timeout_s),
            metrics.ListFallbackEvents(
                translate.fallback_events_request(query), timeout=ctx.timeout_s
            ),
            metrics.GetProviderHealth(
                translate.provider_health_request(query), timeout=ctx.timeout_s
            ),
        ]

        def cancel_all() -> None:
            for call in calls:
                call.cancel()

        try:
            costs, events, health = await until_disconnect(
                request.receive, _all(calls, cancel_all), cancel_all
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, _SERVICE) from exc
        body = translate.costs_json(costs, query)
        body["fallback_events"] = translate.fallback_events_json(events)
        body["provider_health"] = translate.provider_health_json(health)
        return JSONResponse(body)


async def _all(calls: Sequence[Awaitable[Any]], cancel: Callable[[], None]) -> list[Any]:
    """Every call's result; the first failure cancels the others and is raised."""
    try:
        return list(await asyncio.gather(*calls))
    except BaseException:
        cancel()
        raise
