"""``GET /v1/requests`` and ``GET /v1/requests.csv``: the request log, from the metrics
service's ListRequests (one entry per client request, its attempts grouped).

The JSON list is one page, in OpenAI's list shape (``object``, ``data``, ``has_more``) plus
``next_page_token`` to pass back as ``page_token``. The CSV export (``/v1/requests.csv`` or
``/v1/requests?format=csv``) streams up to ``limit`` rows of the same filter, reading pages of
500 as it writes; the first page is read before the answer starts, so a bad filter or an
unreachable metrics service is an error status, not an empty file. Should a later page fail,
the stream is cut off (no final chunk), so a client never mistakes a partial file for a whole
one. Figures only: the ledger holds no prompt or completion text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import grpc
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.channels import Upstreams
from gateway.context import RequestContext
from gateway.errors import from_rpc_error
from gateway.request_log_query import MAX_LIMIT, LogQuery, parse_log_query
from gateway.streaming import until_disconnect
from gateway.translate import requests as translate
from gateway.web import JSONResponse

__all__ = ["RequestLogEndpoints"]

_SERVICE: Final = "metrics service"
logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


class RequestLogEndpoints:
    """The request log's JSON pages and CSV export."""

    def __init__(self, upstreams: Callable[[], Upstreams], clock: Clock, trace_link: str) -> None:
        self._upstreams = upstreams
        self._clock = clock
        # GatewayConfig.trace_link(): a URL with {trace_id} in it, or "" for no links.
        self._trace_link = trace_link

    async def list(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/requests``: one page as JSON, or with ``format=csv`` the CSV export."""
        query = self._parse(request, ctx, csv_path=False)
        if query.format == "csv":
            return await self._export(request, ctx, query)
        response = await self._page(request, ctx, query, query.limit, query.page_token)
        token = response.next_page_token
        return JSONResponse(
            {
                "object": "list",
                "data": translate.request_entries(response, self._trace_link),
                "has_more": bool(token),
                "next_page_token": token or None,
            }
        )

    async def csv(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/requests.csv``: the CSV export."""
        return await self._export(request, ctx, self._parse(request, ctx, csv_path=True))

    def _parse(self, request: Request, ctx: RequestContext, *, csv_path: bool) -> LogQuery:
        return parse_log_query(
            request.query_params.multi_items(),
            api_key_id=ctx.api_key_id,
            admin=ctx.admin,
            csv=csv_path,
        )

    async def _page(
        self, request: Request, ctx: RequestContext, query: LogQuery, size: int, token: str
    ) -> Any:
        call = self._upstreams().metrics.ListRequests(
            translate.list_requests_request(query, size, token), timeout=ctx.timeout_s
        )
        try:
            return await until_disconnect(request.receive, call, call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, _SERVICE) from exc

    async def _export(self, request: Request, ctx: RequestContext, query: LogQuery) -> Response:
        first = await self._page(request, ctx, query, min(query.limit, MAX_LIMIT), query.page_token)
        stamp = self._clock().strftime("%Y%m%dT%H%M%SZ")
        return StreamingResponse(
            self._rows(ctx, query, first),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="llmrouter-requests-{stamp}.csv"',
                "x-content-type-options": "nosniff",
                "cache-control": "no-store",
            },
        )

    async def _rows(self, ctx: RequestContext, query: LogQuery, page: Any) -> AsyncIterator[str]:
        """The header, then the rows of ``page`` and of the pages after it, up to
        ``query.limit`` rows. Starlette cancels this when the client disconnects."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180 line ends
        writer.writerow(translate.CSV_COLUMNS)
        left = query.limit
        while True:
            entries = translate.request_entries(page, self._trace_link)[:left]
            writer.writerows(translate.csv_row(entry) for entry in entries)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            left -= len(entries)
            if left <= 0 or not page.next_page_token:
                return
            message = translate.list_requests_request(
                query, min(left, MAX_LIMIT), page.next_page_token
            )
            try:
                page = await self._upstreams().metrics.ListRequests(message, timeout=ctx.timeout_s)
            except grpc.aio.AioRpcError as exc:
                # Cut the stream (raising ends it without its last chunk): never a partial
                # file that looks whole.
                logger.warning("request log export cut short: %s", exc.code().name)
                raise
