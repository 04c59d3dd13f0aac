"""``GET /v1/dashboard/summary``: everything the dashboard shows, in one round trip.

The calls run at once: QueryCosts by model and hour over the last 24 hours (the totals, the
per-model table, the hourly chart and today), QueryCosts by day over the 13 days before today,
ListFallbackEvents and GetProviderHealth over the window, the router's ListModelHealth and
ListCategories, and, for a window other than 24 hours, QueryCosts by model over it.

Every QueryCosts reads each record of its window, so over a large ledger the 13-day query is
the expensive one. Past days change only by late records, so its answer is kept and served
stale-while-revalidate: after ``past_days_ttl_s`` a request still gets the kept days at once and
one background call refreshes them; only days older than ``_MAX_STALE_S`` (or none yet, or a
new day) are waited for. The answer differs per caller (a key sees its own usage), so the last
``_PAST_DAYS_SLOTS`` answers are kept, least recently used out first. A window covers whole
hours ending now (``since=24h`` is the 24 buckets of the hourly chart).

A status page must render when a service is down: a failed call leaves its parts null and
names the service under ``unavailable``; the request fails only on bad parameters.

Usage figures, fallback events and provider health are the caller's own unless its key is an
admin key (``caller`` says which); model health and categories are the router's, shown to every
key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Final

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway import translate
from gateway.channels import Upstreams
from gateway.config import trace_url
from gateway.context import RequestContext
from gateway.dashboard import figures
from gateway.errors import InvalidRequest, from_rpc_error
from gateway.streaming import until_disconnect
from gateway.translate._values import iso
from gateway.usage_query import CostQuery, parse_cost_query, scoped
from gateway.web import JSONResponse

__all__ = ["DAYS", "HOURS", "PARAMS", "DashboardSummary"]

# Width of the hourly chart and of the daily trend.
HOURS: Final = 24
DAYS: Final = 14
# Days counted as "this week" (today and the six before, UTC).
_WEEK_DAYS: Final = 7
PARAMS: Final = ("since", "reference_model", "limit")
_DEFAULT_SINCE: Final = "24h"
_DEFAULT_EVENTS: Final = 20
# Past days kept longer than this (their refresh kept failing) are fetched again inline.
_MAX_STALE_S: Final = 900.0
# Answers of past days kept at once (callers x reference models); a few KB each.
_PAST_DAYS_SLOTS: Final = 256
_HOUR: Final = dt.timedelta(hours=1)
_DAY: Final = dt.timedelta(days=1)

Clock = Callable[[], dt.datetime]
logger = logging.getLogger(__name__)


# (today, reference model, the caller's keys or "" for all): a new day, other prices or
# another key is another answer.
_Key = tuple[str, str, str]


@dataclasses.dataclass
class _Cached:
    fetched: float
    rows: dict[str, dict[str, Any]]


class DashboardSummary:
    """The aggregate behind the dashboard's Status and Analytics pages."""

    def __init__(
        self,
        upstreams: Callable[[], Upstreams],
        clock: Clock,
        *,
        jaeger_url: str,
        trace_link: str,
        router_replicas: int,
        past_days_ttl_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstreams = upstreams
        self._clock = clock
        self._jaeger_url = jaeger_url.rstrip("/")
        # GatewayConfig.trace_link(): a URL with {trace_id} in it, or "" for no links.
        self._trace_link = trace_link
        self._replicas = router_replicas
        self._ttl_s = past_days_ttl_s
        self._monotonic = monotonic
        self._past_days: OrderedDict[_Key, _Cached] = OrderedDict()
        # The background refresh of each key, while it runs.
        self._refreshes: dict[_Key, asyncio.Task[None]] = {}

    async def summary(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/dashboard/summary?since=24h&reference_model=&limit=20``."""
        now = self._clock()
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        today = this_hour.replace(hour=0)
        query = _parse(request.query_params.multi_items(), now, this_hour + _HOUR)
        query = scoped(query, ctx.api_key_id, ctx.admin)
        reference, keys = query.reference_model, query.api_key_ids
        hourly = CostQuery(
            start=this_hour - (HOURS - 1) * _HOUR,
            group_by=("model",),
            bucket="hour",
            reference_model=reference,
            api_key_ids=keys,
        )
        days = CostQuery(
            start=today - (DAYS - 1) * _DAY,
            end=today,
            bucket="day",
            reference_model=reference,
            api_key_ids=keys,
        )
        cache_key = (iso(today) or "", reference, ",".join(keys))
        past_days = self._cached(cache_key)

        up = self._upstreams()
        metrics, admin = up.metrics, up.admin
        parts: dict[str, tuple[str, Any, Any]] = {
            "hourly": ("metrics", metrics.QueryCosts, translate.query_costs_request(hourly)),
            "events": (
                "metrics", metrics.ListFallbackEvents, translate.fallback_events_request(query)
            ),
            "providers": (
                "metrics", metrics.GetProviderHealth, translate.provider_health_request(query)
            ),
            "models": (
                "router", admin.ListModelHealth, translate.admin.list_model_health_request()
            ),
            "categories": (
                "router", admin.ListCategories, translate.admin.list_categories_request()
            ),
        }  # fmt: skip
        days_request = translate.query_costs_request(days)
        if past_days is None:
            parts["days"] = ("metrics", metrics.QueryCosts, days_request)
        elif self._stale(cache_key) and cache_key not in self._refreshes:
            refresh = asyncio.create_task(
                self._refresh_days(metrics, days_request, days, cache_key, ctx.timeout_s)
            )
            self._refreshes[cache_key] = refresh
            refresh.add_done_callback(lambda _: self._refreshes.pop(cache_key, None))
        window = dataclasses.replace(query, group_by=("model",))
        if query.start != hourly.start:
            parts["window"] = (
                "metrics", metrics.QueryCosts, translate.query_costs_request(window)
            )  # fmt: skip
        results = await self._call_all(request, parts, ctx.timeout_s)
        unavailable: dict[str, str] = results.pop("_unavailable")

        hours = _report(results.get("hourly"), hourly)
        if past_days is None and results.get("days") is not None:
            past_days = figures.by_key(_report(results["days"], days)["groups"], "bucket_start")
            self._keep(cache_key, past_days)
        body: dict[str, Any] = {
            "time": iso(now),
            "since": request.query_params.get("since", _DEFAULT_SINCE),
            "start": iso(query.start),
            "end": iso(query.end),
            "jaeger_url": self._jaeger_url,
            "router_replicas": self._replicas,
            "caller": {"api_key_id": ctx.api_key_id, "admin": ctx.admin},
            **_window_figures(results, hours, window),
            **_trends(hours, past_days, this_hour, today),
            **self._status(results),
            "unavailable": [{"service": s, "message": m} for s, m in unavailable.items()],
        }
        return JSONResponse(body)

    def _cached(self, key: _Key) -> dict[str, dict[str, Any]] | None:
        cached = self._past_days.get(key)
        if cached is None or self._monotonic() - cached.fetched >= _MAX_STALE_S:
            return None
        self._past_days.move_to_end(key)
        return cached.rows

    def _stale(self, key: _Key) -> bool:
        cached = self._past_days.get(key)
        return cached is not None and self._monotonic() - cached.fetched >= self._ttl_s

    def _keep(self, key: _Key, rows: dict[str, dict[str, Any]]) -> None:
        self._past_days[key] = _Cached(self._monotonic(), rows)
        self._past_days.move_to_end(key)
        while len(self._past_days) > _PAST_DAYS_SLOTS:
            self._past_days.popitem(last=False)

    async def _refresh_days(
        self,
        metrics: Any,
        message: Any,
        days: CostQuery,
        key: _Key,
        deadline_s: float,
    ) -> None:
        """Fetch the past days again in the background; on failure keep the old ones."""
        try:
            response = await metrics.QueryCosts(message, timeout=deadline_s)
        except grpc.aio.AioRpcError as exc:
            logger.info("dashboard: past days not refreshed: %s", exc.code().name)
            return
        self._keep(key, figures.by_key(_report(response, days)["groups"], "bucket_start"))

    async def _call_all(
        self, request: Request, parts: dict[str, tuple[str, Any, Any]], deadline_s: float
    ) -> dict[str, Any]:
        """Each part's answer, or None when its service failed (named in ``_unavailable``)."""
        names = list(parts)
        calls = [method(message, timeout=deadline_s) for _, method, message in parts.values()]

        def cancel_all() -> None:
            for call in calls:
                call.cancel()

        settled = await until_disconnect(request.receive, _settle(calls), cancel_all)
        results: dict[str, Any] = {}
        unavailable: dict[str, str] = {}
        for name, result in zip(names, settled, strict=True):
            service = parts[name][0]
            if isinstance(result, grpc.aio.AioRpcError):
                shown = "metrics service" if service == "metrics" else service
                unavailable.setdefault(service, from_rpc_error(result, shown).message)
                result = None
            elif isinstance(result, BaseException):
                raise result
            results[name] = result
        results["_unavailable"] = unavailable
        return results

    def _status(self, results: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "fallback_events": None,
            "provider_health": None,
            "models": None,
            "categories": None,
            "classification_mode": None,
        }
        if results.get("events") is not None:
            body["fallback_events"] = [
                {**event, "trace_url": self._trace_url(event["trace_id"])}
                for event in translate.fallback_events_json(results["events"])
            ]
        if results.get("providers") is not None:
            body["provider_health"] = translate.provider_health_json(results["providers"])
        if results.get("models") is not None:
            body["models"] = translate.admin.models_json(results["models"])
        if results.get("categories") is not None:
            listed = translate.admin.categories_json(results["categories"])
            body["classification_mode"] = listed["classification_mode"]
            body["categories"] = figures.availability(listed["categories"], body["models"])
        return body

    def _trace_url(self, trace_id: str) -> str | None:
        return trace_url(self._trace_link, trace_id)


def _parse(items: Sequence[tuple[str, str]], now: dt.datetime, end_hour: dt.datetime) -> CostQuery:
    """The window (whole hours up to now), the reference model and the number of events."""
    for name, _ in items:
        if name not in PARAMS:
            raise InvalidRequest(f"Unrecognized query parameter: '{name}'.", name)
    if not any(name == "since" for name, _ in items):
        items = [*items, ("since", _DEFAULT_SINCE)]
    # Validated as /v1/costs does, over whole hours (end_hour - since) ending now; a window
    # shorter than this hour's part so far simply ends now.
    query = parse_cost_query(items, now=end_hour, with_limit=True)
    assert query.start is not None
    start = query.start if query.start < now else now - (end_hour - query.start)
    query = dataclasses.replace(query, start=start, end=now)
    if not any(name == "limit" for name, _ in items):
        query = dataclasses.replace(query, limit=_DEFAULT_EVENTS)
    return query


def _report(response: Any, query: CostQuery) -> dict[str, Any]:
    return translate.costs_json(response, query) if response is not None else {}


def _window_figures(
    results: dict[str, Any], hours: dict[str, Any], window: CostQuery
) -> dict[str, Any]:
    """Totals and per-model rows over the window: from its own query, or from the hourly one
    when the window is the last 24 hours."""
    report = _report(results["window"], window) if "window" in results else hours
    if not report:
        return {"reference_model": None, "totals": None, "by_model": None}
    models = figures.by_key(report["groups"], "model").values()
    return {
        "reference_model": report["reference_model"],
        "totals": report["totals"],
        "by_model": sorted(models, key=lambda row: (-row["requests"], row["model"])),
    }


def _trends(
    hours: dict[str, Any],
    past_days: dict[str, dict[str, Any]] | None,
    this_hour: dt.datetime,
    today: dt.datetime,
) -> dict[str, Any]:
    """The hourly and daily series with every bucket present; today's day is the sum of its
    hours, so the daily query never needs to read today."""
    if not hours:
        return {
            "hourly": None,
            "daily": None,
            "tokens_this_hour": None,
            "fallbacks_today": None,
            "fallbacks_week": None,
        }
    hour_rows = figures.series(
        figures.by_key(hours["groups"], "bucket_start"), this_hour, _HOUR, HOURS
    )
    today_start = iso(today)
    assert today_start is not None
    today_row = {
        "bucket_start": today_start,
        **figures.total(row for row in hour_rows if row["bucket_start"] >= today_start),
    }
    day_rows = None
    if past_days is not None:
        day_rows = figures.series({**past_days, today_start: today_row}, today, _DAY, DAYS)
    return {
        "hourly": hour_rows,
        "daily": day_rows,
        "tokens_this_hour": hour_rows[-1]["total_tokens"],
        "fallbacks_today": today_row["fallback_count"],
        "fallbacks_week": None
        if day_rows is None
        else sum(row["fallback_count"] for row in day_rows[-_WEEK_DAYS:]),
    }


async def _settle(calls: Sequence[Any]) -> list[Any]:
    """Every call's result or exception (a failed part must not sink the others)."""
    return list(await asyncio.gather(*calls, return_exceptions=True))
