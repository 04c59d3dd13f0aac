"""``llmrouter costs``: QueryCosts as a table or CSV (monthly reports for finance, say).

It reaches the metrics service the way the gateway does, from the same config file (found by
:func:`llmrouter.config.config_path`): ``gateway.metrics_address`` (or, left at its default,
``[metrics]`` host and port), TLS and mTLS from ``[gateway.metrics_tls]``, the token in the
variable ``gateway.metrics_token_env`` names. ``--metrics`` and ``--token-env`` override them;
with neither a token variable nor ``--token-env``, ``$LLMROUTER_READ_TOKEN`` is sent when set
(the variable ``llmrouter serve all`` and compose use).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import grpc
from google.protobuf import timestamp_pb2

from llmrouter.cli import LOCAL_TOKENS
from llmrouter.cli.budgets import Rule, budget_cell, read_budgets, rules_of
from llmrouter.config import ConfigError
from llmrouter.security import channel_factory, read_token
from llmrouter.v1 import metrics_service_pb2, metrics_service_pb2_grpc

__all__ = ["MetricsTarget", "metrics_target", "parse_since", "run_costs", "since_time", "window"]

_DIMENSIONS = {
    "provider": metrics_service_pb2.DIMENSION_PROVIDER,
    "model": metrics_service_pb2.DIMENSION_MODEL,
    "category": metrics_service_pb2.DIMENSION_CATEGORY,
    "source": metrics_service_pb2.DIMENSION_SOURCE,
    "caller": metrics_service_pb2.DIMENSION_SOURCE,
    "api_key": metrics_service_pb2.DIMENSION_API_KEY,
    "team": metrics_service_pb2.DIMENSION_TEAM,
    "deployment": metrics_service_pb2.DIMENSION_DEPLOYMENT,
}
_FIELDS = {"api_key": "api_key_id", "caller": "source", "team": "team_id"}
# Grouped by these, the table gains a budgets column (the rules of each row's key and team).
_BUDGET_COLUMNS = ("api_key_id", "team_id")


def parse_since(text: str) -> dt.timedelta:
    """``30m``, ``24h``, ``7d`` as a timedelta. Raises ValueError naming ``--since`` for
    another shape or a span no timedelta holds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not match:
        raise ValueError(f"--since: expected a number and a unit (s, m, h, d, w), got {text!r}")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    try:
        return dt.timedelta(seconds=int(match.group(1)) * seconds)
    except OverflowError:
        raise _since_too_long(text) from None


def since_time(text: str, now: dt.datetime) -> dt.datetime:
    """The start of the window ``--since TEXT`` ending at ``now``. Raises ValueError naming
    ``--since`` (a bad shape, or a start before year 1)."""
    try:
        return now - parse_since(text)
    except OverflowError:
        raise _since_too_long(text) from None


def _since_too_long(text: str) -> ValueError:
    return ValueError(f"--since: {text.strip()!r} reaches back before year 1; give a shorter span")


def _parse_time(text: str, flag: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{flag}: expected an ISO 8601 time, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def window(
    since: str, month: str, start: str, end: str, now: dt.datetime
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The [start, end) window the flags describe; (None, None) means everything."""
    if since:
        return since_time(since, now), None
    if month:
        match = re.fullmatch(r"(\d{4})-(\d{2})", month)
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
            raise ValueError(f"--month: expected YYYY-MM, got {month!r}")
        year, number = int(match.group(1)), int(match.group(2))
        if (year, number) == (9999, 12):
            raise ValueError(f"--month: {month!r} ends after year 9999")
        first = dt.datetime(year, number, 1, tzinfo=dt.UTC)
        following = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=dt.UTC)
        return first, following
    return (
        _parse_time(start, "--start") if start else None,
        _parse_time(end, "--end") if end else None,
    )


def _ts(value: dt.datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def run_costs(args: argparse.Namespace) -> int:
    """Query the metrics service and print the report; returns the exit status (2: bad flags
    or config, 1: the service could not be reached or refused). ``args.config`` is the file
    :func:`llmrouter.config.config_path` chose (None: built-in defaults)."""
    try:
        start, end = window(args.since, args.month, args.start, args.end, dt.datetime.now(dt.UTC))
        dims = [d.strip() for d in args.group_by.split(",") if d.strip()]
        for d in dims:
            if d not in _DIMENSIONS:
                raise ValueError(
                    f"--group-by: unknown dimension {d!r} (one of {', '.join(_DIMENSIONS)})"
                )
        target = metrics_target(args.config, args.metrics, args.token_env)
    except (ValueError, ConfigError) as exc:
        print(f"llmrouter costs: {exc}", file=sys.stderr)
        return 2
    request = metrics_service_pb2.QueryCostsRequest(
        group_by=[_DIMENSIONS[d] for d in dims], reference_model=args.reference
    )
    if start:
        request.start_time.CopyFrom(_ts(start))
    if end:
        request.end_time.CopyFrom(_ts(end))
    if args.bucket:
        request.bucket = (
            metrics_service_pb2.TIME_BUCKET_HOUR
            if args.bucket == "hour"
            else metrics_service_pb2.TIME_BUCKET_DAY
        )
    try:
        reply = asyncio.run(_query(target, request, args.timeout))
    except grpc.aio.AioRpcError as exc:
        for line in _failure(exc, target, args.timeout):
            print(f"llmrouter costs: {line}", file=sys.stderr)
        return 1
    columns = [_FIELDS.get(d, d) for d in dict.fromkeys(dims)]
    if args.bucket:
        columns.append("bucket")
    rules = _budgets(args) if any(c in _BUDGET_COLUMNS for c in columns) else None
    write_report(reply, columns, sys.stdout, as_csv=args.csv, budgets=rules)
    return 0


def _budgets(args: argparse.Namespace) -> list[Rule] | None:
    """The router's budget rules; None (said on stderr) when they cannot be read: the cost
    table is still printed, without its budgets column."""
    try:
        return read_budgets(args.config, args.router, args.admin_token_env, args.timeout)
    except ConfigError as exc:
        print(f"llmrouter costs: budgets not shown: {exc}", file=sys.stderr)
    except grpc.aio.AioRpcError as exc:
        print(
            f"llmrouter costs: budgets not shown: the router answered {exc.code().name}: "
            f"{exc.details()} (point elsewhere with --router HOST:PORT; ListBudgets needs the "
            "admin scope: --admin-token-env VAR)",
            file=sys.stderr,
        )
    return None


@dataclass(frozen=True)
class MetricsTarget:
    """Where and how ``llmrouter costs`` calls the metrics service."""

    #: host:port.
    address: str
    #: Where the address came from, for messages: "--metrics", "gateway.metrics_address in
    #: FILE", "metrics.host and metrics.port in FILE", or the built-in default.
    source: str
    #: Opens a channel to an address: TLS or plaintext, sending the token on every call.
    open: Callable[[str], grpc.aio.Channel]
    #: Whether the channel speaks TLS.
    tls: bool


def metrics_target(config: str | None, address: str = "", token_env: str = "") -> MetricsTarget:
    """The metrics service as the gateway configured in ``config`` reaches it; ``address`` and
    ``token_env`` (the flags) override. ConfigError for an invalid config, a token variable
    that is named but unset, or an unreadable certificate file."""
    from gateway.channels import size_options
    from gateway.config import GatewayConfig
    from gateway.config import load_config as gateway_config
    from metrics_svc.config import load_config as metrics_config

    gateway = gateway_config(config)
    where = f" in {os.path.abspath(config)}" if config else ""
    if address:
        source = "--metrics"
    elif gateway.metrics_address != GatewayConfig().metrics_address:
        address, source = gateway.metrics_address, f"gateway.metrics_address{where}"
    else:
        metrics = metrics_config(config)
        host = "127.0.0.1" if metrics.host in ("0.0.0.0", "::", "") else metrics.host
        address = f"{host}:{metrics.port}"
        source = (
            f"metrics.host and metrics.port{where}"
            if config
            else "the built-in default: no --config, LLMROUTER_CONFIG or ./llmrouter.toml"
        )
    if token_env:
        token = read_token(token_env, "--token-env")
    elif gateway.metrics_token_env:
        token = read_token(gateway.metrics_token_env, "gateway.metrics_token_env")
    else:
        # LLMROUTER_READ_TOKEN when set: the variable `serve all` and compose use.
        read_env = LOCAL_TOKENS["read"]
        token = read_token(read_env if os.environ.get(read_env, "").strip() else "", read_env)
    opener = channel_factory(
        gateway.metrics_tls,
        token=token,
        key="gateway.metrics_tls",
        options=size_options(gateway),
    )
    return MetricsTarget(address, source, opener, gateway.metrics_tls.active)


async def _query(
    target: MetricsTarget, request: metrics_service_pb2.QueryCostsRequest, deadline_s: float
) -> metrics_service_pb2.QueryCostsResponse:
    # A gRPC deadline rather than asyncio.timeout: the service sees it and stops working too.
    async with target.open(target.address) as channel:
        stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
        reply: metrics_service_pb2.QueryCostsResponse = await stub.QueryCosts(
            request, timeout=deadline_s
        )
        return reply


# Where to point instead, said by every "cannot reach" message.
_ELSEWHERE = (
    "is the stack running? Point elsewhere with --metrics HOST:PORT, or name the stack's "
    "config with --config FILE (or LLMROUTER_CONFIG)"
)


def _failure(exc: grpc.aio.AioRpcError, target: MetricsTarget, timeout: float) -> list[str]:
    """The lines explaining a failed call: one when the service could not be reached."""
    code, detail = exc.code(), exc.details() or ""
    at = f"the metrics service at {target.address} (address from {target.source})"
    if code == grpc.StatusCode.UNAVAILABLE:
        return [f"cannot reach {at}: {_unreachable_reason(detail, target.tls)}; {_ELSEWHERE}"]
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return [f"no answer from {at} within {timeout:g}s (--timeout); {_ELSEWHERE}"]
    lines = [f"metrics service at {target.address}: {code}: {detail}"]
    if hint := _HINTS.get(code):
        lines.append(hint)
    return lines


def _unreachable_reason(detail: str, tls: bool) -> str:
    """A short cause from gRPC's connection error text (which names the address again)."""
    lowered = detail.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "handshake" in lowered or "ssl" in lowered or "tls" in lowered:
        return (
            "the TLS handshake failed (check [gateway.metrics_tls]: ca_file, and cert_file "
            "and key_file when the service requires client certificates)"
        )
    if "resolving" in lowered or "lookup" in lowered or "dns" in lowered:
        return "the host name does not resolve"
    if not tls and ("socket closed" in lowered or "connection reset" in lowered):
        return (
            "the connection was closed (does the service take TLS? set [gateway.metrics_tls] "
            "ca_file)"
        )
    return "unavailable"


# What to do next, by the status a report call failed with.
_HINTS = {
    grpc.StatusCode.UNAUTHENTICATED: (
        "the metrics service needs a token with the read scope: export LLMROUTER_READ_TOKEN "
        "with the value the stack was started with (llmrouter serve all reads it from its own "
        "environment, or makes a random one per run), or name another variable with "
        "--token-env (or gateway.metrics_token_env in the config)"
    ),
    grpc.StatusCode.PERMISSION_DENIED: (
        "this token may not read reports: use one with the metrics read scope (metrics.auth_tokens)"
    ),
}


_HEADERS = (
    "requests",
    "succeeded",
    "failed",
    "cancelled",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "cost_usd",
    "avg_latency_ms",
    "p95_latency_ms",
    "fallback_rate_pct",
    "local_requests",
    "savings_usd",
    "savings_pct",
    "priced",
    "estimated",
)


def _row(summary: metrics_service_pb2.CostSummary) -> list[Any]:
    return [
        summary.requests,
        summary.successes,
        summary.failures,
        summary.cancellations,
        summary.prompt_tokens,
        summary.cache_read_tokens,
        summary.completion_tokens,
        round(summary.cost_usd, 6),
        round(summary.average_latency.ToNanoseconds() / 1e6, 1),
        round(summary.p95_latency.ToNanoseconds() / 1e6, 1),
        round(summary.fallback_rate * 100, 2),
        summary.local_requests,
        round(summary.savings_usd, 6),
        round(summary.savings_percent, 2),
        # "no": some requests' model has no known price; their $0 is a missing cost.
        "no" if summary.unpriced_requests else "yes",
        # Requests whose token counts (and cost) are partly the router's estimate.
        summary.estimated_requests,
    ]


def write_report(
    reply: metrics_service_pb2.QueryCostsResponse,
    columns: list[str],
    out: TextIO,
    *,
    as_csv: bool,
    budgets: list[Rule] | None = None,
) -> None:
    """Write groups then a total row, as CSV or an aligned table (with notes after it: the
    reference model, requests with no known price). With ``budgets``, a last column gives
    each row's key's and team's rules: ``id remaining/hard period``."""
    rows: list[list[Any]] = []
    for group in reply.groups:
        keys: list[Any] = []
        for column in columns:
            if column == "bucket":
                keys.append(group.bucket_start_time.ToDatetime(dt.UTC).isoformat())
            else:
                keys.append(getattr(group, column) or "-")
        extra = []
        if budgets is not None:
            key = group.api_key_id if "api_key_id" in columns else ""
            team = group.team_id if "team_id" in columns else ""
            extra.append(budget_cell(rules_of(budgets, key, team)))
        rows.append(keys + _row(group.summary) + extra)
    total_keys: list[Any] = ["TOTAL"] + [""] * (len(columns) - 1) if columns else []
    rows.append(total_keys + _row(reply.totals) + ([""] if budgets is not None else []))
    header = [*columns, *_HEADERS, *(["budgets_remaining_usd"] if budgets is not None else [])]
    if as_csv:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        return
    text = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    for i, r in enumerate(text):
        out.write(
            "  ".join(
                c.rjust(w) if i and _numeric(c) else c.ljust(w)
                for c, w in zip(r, widths, strict=True)
            ).rstrip()
            + "\n"
        )
    if reply.reference_model:
        out.write(f"savings versus {reply.reference_model}\n")
    if unpriced := reply.totals.unpriced_requests:
        out.write(
            f"{unpriced} requests of models with no known price are billed $0 (priced: no) and"
            " left out of the savings; set input_price_per_million and"
            " output_price_per_million for them\n"
        )
    if estimated := reply.totals.estimated_requests:
        out.write(
            f"{estimated} requests have token counts their upstream did not report (they"
            " ended before its usage, or it reported none or not readably): their counts"
            " and cost are the router's estimates (estimated)\n"
        )


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
