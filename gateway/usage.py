"""The endpoints served by MetricsService: ``GET /v1/costs`` and ``GET /v1/usage``, each
limited to the caller's own API key unless it is an admin key.

Both show budgets too (:mod:`gateway.usage_budgets`), read from the router's ListBudgets at
once with the metrics calls: ``/v1/usage`` always (the caller's own rules and its team's, with
what remains), ``/v1/costs`` when grouped by ``api_key`` or ``team``.
"""

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
from gateway.translate import budgets as translate_budgets
from gateway.usage_budgets import attach, visible, wants_budgets
from gateway.usage_query import CostQuery, parse_cost_query, scoped
from gateway.web import JSONResponse

__all__ = ["Clock", "UsageEndpoints"]

_SERVICE = "metrics service"
_ROUTER = "router"

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
        return scoped(query, ctx.api_key_id, ctx.admin, ctx.team_id)

    def _budgets_call(self, ctx: RequestContext) -> Any:
        """ListBudgets with the gateway's own (inference) credential, which every gateway has
        (its admin token is optional); the rules are filtered per caller."""
        upstreams = self._upstreams()
        stub = upstreams.keys if upstreams.keys is not None else upstreams.admin
        return stub.ListBudgets(translate_budgets.list_budgets_request(), timeout=ctx.timeout_s)

    async def costs(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/costs``: QueryCosts over the window, grouped and filtered as asked; grouped
        by ``api_key`` or ``team``, each row carries its key's and team's ``budgets`` and the
        report the rules it shows (``budgets``)."""
        query = self._query(request, ctx, with_limit=False)
        calls = [
            (
                self._upstreams().metrics.QueryCosts(
                    translate.query_costs_request(query), timeout=ctx.timeout_s
                ),
                _SERVICE,
            )
        ]
        if wants_budgets(query):
            calls.append((self._budgets_call(ctx), _ROUTER))
        answers = await _answers(request, calls)
        body = translate.costs_json(answers[0], query)
        if wants_budgets(query):
            budgets = visible(translate_budgets.budgets_json(answers[1]), query, ctx)
            attach(body["groups"], budgets, query)
            body["budgets"] = budgets
        return JSONResponse(body)

    async def usage(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/usage``: the cost report plus recent fallbacks, provider health and the
        budgets that apply (``budgets``: a key's own and its team's, with what remains)."""
        query = self._query(request, ctx, with_limit=True)
        metrics = self._upstreams().metrics
        calls = [
            (
                metrics.QueryCosts(translate.query_costs_request(query), timeout=ctx.timeout_s),
                _SERVICE,
            ),
            (
                metrics.ListFallbackEvents(
                    translate.fallback_events_request(query), timeout=ctx.timeout_s
                ),
                _SERVICE,
            ),
            (
                metrics.GetProviderHealth(
                    translate.provider_health_request(query), timeout=ctx.timeout_s
                ),
                _SERVICE,
            ),
            (self._budgets_call(ctx), _ROUTER),
        ]
        costs, events, health, budgets = await _answers(request, calls)
        body = translate.costs_json(costs, query)
        shown = visible(translate_budgets.budgets_json(budgets), query, ctx)
        attach(body["groups"], shown, query)
        body["caller"] = {"api_key_id": ctx.api_key_id, "team_id": ctx.team_id, "admin": ctx.admin}
        body["fallback_events"] = translate.fallback_events_json(events)
        body["provider_health"] = translate.provider_health_json(health)
        body["budgets"] = shown
        return JSONResponse(body)


async def _answers(request: Request, calls: Sequence[tuple[Any, str]]) -> list[Any]:
    """Every call's answer, in order, from (call, service name) pairs; a client that goes away
    cancels them all. A failure is the HTTP error naming the service that failed."""

    def cancel_all() -> None:
        for call, _ in calls:
            call.cancel()

    named = [_named(call, service) for call, service in calls]
    answers: list[Any] = await until_disconnect(
        request.receive, _all(named, cancel_all), cancel_all
    )
    return answers


async def _named(call: Awaitable[Any], service: str) -> Any:
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc, service) from exc


async def _all(calls: Sequence[Awaitable[Any]], cancel: Callable[[], None]) -> list[Any]:
    """Every call's result; the first failure cancels the others and is raised."""
    try:
        return list(await asyncio.gather(*calls))
    except BaseException:
        cancel()
        raise
