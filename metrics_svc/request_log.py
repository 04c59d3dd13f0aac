"""The request log: one entry per client request, its attempts grouped by ``request_id``; the
question, the answer, the page token and the SQL between them.

A request is found by its *head*: its attempt with the lowest number (attempt 1 as the router
numbers them; a request whose first record is missing still has a head). The page is the
newest heads matching the filter, found by walking ``ix_usage_records_time`` backwards from the
page token's position (keyset on ``(time, request_id)``, so records arriving between two pages
shift nothing); each head's attempts are then read through ``ix_usage_records_request`` and
grouped in the same statement. A page costs one index walk over the heads it returns (plus
the rows the filter skips), never a pass over the window.

Figures only: the ledger holds no prompt or completion text, and neither does an entry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    JSON,
    ColumnElement,
    Double,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql import FromClause

from metrics_svc.errors import InvalidRequestsQuery
from metrics_svc.records import UsageStatus
from metrics_svc.tables import usage_records

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PageToken",
    "RequestEntry",
    "RequestFilter",
    "RequestPage",
    "RequestQuery",
    "decode_token",
    "encode_token",
    "entry_from_row",
    "requests_statement",
]

#: Entries returned when a request sets no page size.
DEFAULT_PAGE_SIZE: Final = 50
#: Most entries one page holds; larger page sizes are taken as this (AIP-158).
MAX_PAGE_SIZE: Final = 500

_TOKEN_VERSION: Final = 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """Which requests to list; an empty tuple matches everything."""

    api_key_ids: tuple[str, ...] = ()
    #: Requests with any attempt against one of these models.
    models: tuple[str, ...] = ()
    #: Requests whose final status (:attr:`RequestEntry.status`) is one of these.
    statuses: tuple[UsageStatus, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where a page starts: after the head at ``(time, request_id)`` in newest-first order."""

    time: datetime
    request_id: str


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """One page of the request log: a window on the head's time, a filter, a position."""

    #: Inclusive; None means the beginning of the ledger.
    start: datetime | None = None
    #: Exclusive; None means no upper bound.
    end: datetime | None = None
    filter: RequestFilter = field(default_factory=RequestFilter)
    #: Entries wanted, 1 to :data:`MAX_PAGE_SIZE`.
    page_size: int = DEFAULT_PAGE_SIZE
    #: None for the first page.
    after: PageToken | None = None

    def fingerprint(self) -> str:
        """What a page token is bound to: the window and the filter (AIP-158: a token is
        valid only with the request parameters it came from)."""
        wanted = self.filter
        shape = [
            _micros(self.start) if self.start is not None else None,
            _micros(self.end) if self.end is not None else None,
            sorted(wanted.api_key_ids),
            sorted(wanted.models),
            sorted(s.value for s in wanted.statuses),
            sorted(wanted.categories),
        ]
        text = json.dumps(shape, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RequestEntry:
    """One client request, from the usage records of its attempts."""

    request_id: str
    #: Ledger time of the head attempt (when it ended), UTC.
    time: datetime
    api_key_id: str
    category: str
    source: str
    #: Model of each attempt, in attempt order.
    models: tuple[str, ...]
    #: The succeeded attempt's model (and provider), else the last attempt's.
    final_model: str
    final_provider: str
    attempts: int
    #: SUCCEEDED when any attempt succeeded, else the last attempt's status.
    status: UsageStatus
    #: The last attempt's error type when the request did not succeed, else "".
    error_type: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: float
    #: End to end, in ms: earliest attempt start (time - duration) to latest attempt end.
    latency_ms: float
    trace_id: str
    client_request_id: str
    streamed: bool
    usage_estimated: bool
    #: Deployment of each attempt, in attempt order ("" for a model without deployments).
    deployments: tuple[str, ...] = ()
    #: The deployment of the final attempt (as ``final_model``).
    final_deployment: str = ""


@dataclass(frozen=True, slots=True)
class RequestPage:
    """A page of entries, newest first, and the token of the next page ("" on the last)."""

    entries: tuple[RequestEntry, ...]
    next_page_token: str


def encode_token(query: RequestQuery, last: RequestEntry) -> str:
    """The opaque token of the page after ``last`` (URL-safe base64 of a small JSON array)."""
    body = [_TOKEN_VERSION, _micros(last.time), last.request_id, query.fingerprint()]
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, query: RequestQuery) -> PageToken:
    """The position ``token`` names; raises :class:`InvalidRequestsQuery` (``page_token``)
    when it is not one of ours or came with another window or filter."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, micros, request_id, fingerprint = json.loads(raw)
        if version != _TOKEN_VERSION or not isinstance(request_id, str):
            raise ValueError("unknown token")
        time = _EPOCH + timedelta(microseconds=int(micros))
    except (ValueError, TypeError, binascii.Error, OverflowError, RecursionError):
        raise InvalidRequestsQuery(
            "page_token", "is not a page token of this list (pass next_page_token back as it is)"
        ) from None
    if fingerprint != query.fingerprint():
        raise InvalidRequestsQuery(
            "page_token", "was issued for another filter or window: ask with the same ones"
        )
    return PageToken(time, request_id)


def requests_statement(query: RequestQuery, dialect: str) -> Select[Any]:
    """One page (``page_size + 1`` heads, to know whether another page follows) with each
    request's attempts grouped; rows for :func:`entry_from_row`, newest first."""
    head = usage_records.alias("head")
    wanted = query.filter
    where: list[ColumnElement[bool]] = []
    if query.start is not None:
        where.append(head.c.time >= query.start)
    if query.end is not None:
        where.append(head.c.time < query.end)
    if query.after is not None:
        # Spelled so that both databases bound the walk of ix_usage_records_time by time.
        where.append(head.c.time <= query.after.time)
        where.append(
            or_(head.c.time < query.after.time, head.c.request_id < query.after.request_id)
        )
    if wanted.api_key_ids:
        where.append(head.c.api_key_id.in_(wanted.api_key_ids))
    if wanted.categories:
        where.append(head.c.category.in_(wanted.categories))
    where.append(_head_matches(head, wanted))
    page = (
        select(
            head.c.request_id,
            head.c.time,
            head.c.api_key_id,
            head.c.category,
            head.c.source,
            head.c.trace_id,
            head.c.client_request_id,
        )
        .where(*where)
        .order_by(head.c.time.desc(), head.c.request_id.desc())
        .limit(query.page_size + 1)
        .subquery("page")
    )
    attempt = usage_records.alias("attempt")
    epoch_s = _epoch_seconds(attempt, dialect)
    keys = list(page.c)
    return (
        select(
            *keys,
            func.count(),
            func.sum(attempt.c.prompt_tokens),
            func.sum(attempt.c.completion_tokens),
            func.sum(attempt.c.total_tokens),
            func.sum(attempt.c.cache_read_tokens),
            func.sum(attempt.c.cache_write_tokens),
            func.sum(attempt.c.reasoning_tokens),
            func.sum(attempt.c.cost_usd),
            func.min(epoch_s * 1000.0 - attempt.c.duration_ms),
            func.max(epoch_s * 1000.0),
            func.max(case((attempt.c.streamed, 1), else_=0)),
            func.max(case((attempt.c.usage_estimated, 1), else_=0)),
            _attempt_list(attempt, dialect),
        )
        .select_from(page.join(attempt, attempt.c.request_id == page.c.request_id))
        .group_by(*keys)
        .order_by(page.c.time.desc(), page.c.request_id.desc())
    )


def entry_from_row(row: Sequence[Any]) -> RequestEntry:
    """One row of :func:`requests_statement` as an entry."""
    request_id, time, api_key_id, category, source, trace_id, client_request_id = row[:7]
    count, prompt, completion, total, read, write, reasoning, cost = row[7:15]
    first_start_ms, last_end_ms, streamed, estimated, listed = row[15:20]
    if isinstance(listed, str):  # a driver that hands JSON back as text
        listed = json.loads(listed)
    # [attempt, model, provider, status, error_type, deployment] per attempt; the order the
    # database aggregated them in is not defined, so they are put in attempt order here.
    attempts = sorted((tuple(a) for a in listed), key=lambda a: int(a[0]))
    answered = [a for a in attempts if a[3] == UsageStatus.SUCCEEDED.value]
    final = answered[0] if answered else attempts[-1]
    status = UsageStatus(final[3])
    return RequestEntry(
        request_id=request_id,
        time=time,
        api_key_id=api_key_id,
        category=category,
        source=source,
        models=tuple(str(a[1]) for a in attempts),
        final_model=str(final[1]),
        final_provider=str(final[2]),
        attempts=int(count),
        status=status,
        error_type="" if status is UsageStatus.SUCCEEDED else str(final[4] or ""),
        # PostgreSQL sums bigints as numeric (Decimal).
        prompt_tokens=int(prompt or 0),
        completion_tokens=int(completion or 0),
        total_tokens=int(total or 0),
        cache_read_tokens=int(read or 0),
        cache_write_tokens=int(write or 0),
        reasoning_tokens=int(reasoning or 0),
        cost_usd=float(cost or 0.0),
        latency_ms=max(float(last_end_ms) - float(first_start_ms), 0.0),
        trace_id=trace_id,
        client_request_id=client_request_id,
        streamed=bool(streamed),
        usage_estimated=bool(estimated),
        deployments=tuple(str(a[5] or "") for a in attempts),
        final_deployment=str(final[5] or ""),
    )


def _head_matches(head: FromClause, wanted: RequestFilter) -> ColumnElement[bool]:
    """``head`` is its request's first attempt, and the request has an attempt on one of
    ``wanted.models`` and a final status in ``wanted.statuses`` (when given).

    One correlated ``(SELECT 1 WHERE ...) IS NOT NULL``, evaluated per head through
    ``ix_usage_records_request``, rather than EXISTS / NOT EXISTS conditions: PostgreSQL turns
    those into joins and guesses their selectivity (0.5 % for a NOT EXISTS); multiplied, the
    guesses say a page needs the whole table, and it then sorts a sequential scan (165 s on
    175,000 rows in a test) instead of walking the time index to the page's end (a few ms).
    """
    by_request = usage_records.alias("attempt_of")
    same = by_request.c.request_id == head.c.request_id
    checks: list[ColumnElement[bool]] = [
        ~exists().where(same, by_request.c.attempt < head.c.attempt).correlate(head)
    ]
    if wanted.models:
        checks.append(exists().where(same, by_request.c.model.in_(wanted.models)).correlate(head))
    if wanted.statuses:
        succeeded = (
            exists().where(same, by_request.c.status == UsageStatus.SUCCEEDED.value).correlate(head)
        )
        found: list[ColumnElement[bool]] = []
        if UsageStatus.SUCCEEDED in wanted.statuses:
            found.append(succeeded)
        others = [s.value for s in wanted.statuses if s is not UsageStatus.SUCCEEDED]
        if others:
            last_status = (
                select(by_request.c.status)
                .where(same)
                .order_by(by_request.c.attempt.desc())
                .limit(1)
                .correlate(head)
                .scalar_subquery()
            )
            found.append(and_(~succeeded, last_status.in_(others)))
        checks.append(or_(*found))
    return select(literal(1)).where(*checks).correlate(head).scalar_subquery().is_not(None)


def _epoch_seconds(table: FromClause, dialect: str) -> ColumnElement[Any]:
    """``table.time`` as seconds since the Unix epoch (a float)."""
    if dialect == "postgresql":
        return func.extract("epoch", table.c.time)
    # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff": whole seconds from strftime, and the
    # fraction read as it is (julianday() keeps only milliseconds, and loses some of those).
    seconds = cast(func.strftime(literal("%s"), table.c.time), Double)
    return seconds + cast(func.substr(table.c.time, 20), Double)


def _attempt_list(table: FromClause, dialect: str) -> ColumnElement[Any]:
    """A JSON array of ``[attempt, model, provider, status, error_type, deployment]``, one
    per row."""
    columns = (
        table.c.attempt,
        table.c.model,
        table.c.provider,
        table.c.status,
        table.c.error_type,
        table.c.deployment,
    )
    if dialect == "postgresql":
        return func.json_agg(func.json_build_array(*columns), type_=JSON)
    return func.json_group_array(func.json_array(*columns), type_=JSON)


def _micros(time: datetime) -> int:
    return (time - _EPOCH) // timedelta(microseconds=1)
