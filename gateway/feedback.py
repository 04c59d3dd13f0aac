"""``POST /v1/feedback``: a score of one answer, stored by the metrics service's RecordFeedback.

A key scores only the requests it made (or its team's keys made); admin keys score any, and
only they may send a reserved source (``judge:<model>``, ``evaluation``, ``cache``, in any
case: :func:`gateway.translate.feedback.reserved_source`). The metrics service checks
ownership against the request's usage record, in the same transaction that stores the score.

The router ships usage records within its flush interval (0.2 s by default) after answering,
so feedback sent the moment an answer arrives may find no record yet: a NOT_FOUND is retried
for up to :data:`NOT_FOUND_WAIT_S` before it is the client's 404.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway.channels import Upstreams
from gateway.config import GatewayConfig
from gateway.context import RequestContext
from gateway.errors import (
    FEEDBACK_NOT_OWNER_REASON,
    GatewayError,
    InvalidRequest,
    PermissionDenied,
    from_rpc_error,
)
from gateway.rate_limit import KeyLimits
from gateway.streaming import until_disconnect
from gateway.translate import feedback as translate
from gateway.web import JSONResponse, read_json

__all__ = ["NOT_FOUND_WAIT_S", "FeedbackEndpoints"]

#: Seconds a score of an answer whose usage is not in the ledger yet is retried.
NOT_FOUND_WAIT_S: Final = 2.0
# Pauses between those retries (the last repeats).
_PAUSES_S: Final = (0.05, 0.1, 0.2, 0.4)
_SERVICE: Final = "metrics service"
# The metrics service's reason for feedback on an embeddings request (a 400 naming ``id``).
FEEDBACK_NOT_ANSWER_REASON: Final = "FEEDBACK_NOT_ANSWER"


class FeedbackEndpoints:
    """``POST /v1/feedback`` (and ``/feedback``)."""

    def __init__(
        self,
        config: GatewayConfig,
        upstreams: Callable[[], Upstreams],
        limits: KeyLimits | None = None,
    ) -> None:
        self._config = config
        self._upstreams = upstreams
        self._limits = limits

    async def feedback(self, request: Request, ctx: RequestContext) -> Response:
        """Store the body's score; 200 with the stored score and ``replaced``."""
        body = translate.parse_feedback(
            await read_json(request, self._config.max_body_bytes, "gateway.max_body_bytes")
        )
        if translate.reserved_source(body.source) and not ctx.admin:
            raise PermissionDenied(
                f"Source {body.source!r} is reserved (sources starting with "
                f"'{translate.JUDGE_PREFIX}' are evaluation judges' grades; 'evaluation' and "
                "'cache' are the router's own): only admin keys may send it.",
                "source",
            )
        admission = None
        if self._limits is not None:
            # One request against the key's requests per minute; no tokens.
            admission = await self._limits.admit_tokens(
                ctx.api_key_id, lambda: 0, own=(ctx.rpm_limit, ctx.tpm_limit)
            )
        message = translate.record_feedback_request(
            body, api_key_id=ctx.api_key_id, team_id=ctx.team_id, admin=ctx.admin
        )
        response = await until_disconnect(
            request.receive, self._record(message, ctx.timeout_s), lambda: None
        )
        headers = admission.headers() if admission is not None else None
        return JSONResponse(translate.feedback_json(response), headers=headers)

    async def _record(self, message: Any, timeout_s: float) -> Any:
        start = time.monotonic()
        end, wait_until = start + timeout_s, start + min(NOT_FOUND_WAIT_S, timeout_s)
        attempt = 0
        while True:
            try:
                return await self._upstreams().metrics.RecordFeedback(
                    message, timeout=max(0.1, end - time.monotonic())
                )
            except grpc.aio.AioRpcError as exc:
                pause = _PAUSES_S[min(attempt, len(_PAUSES_S) - 1)]
                not_found = exc.code() == grpc.StatusCode.NOT_FOUND
                if not_found and time.monotonic() + pause < wait_until:
                    attempt += 1
                    await asyncio.sleep(pause)
                    continue
                raise _client_error(exc) from exc


def _client_error(exc: grpc.aio.AioRpcError) -> GatewayError:
    """The metrics service's refusal as the client's error: 404, 403 and the 400 of an
    embeddings request name ``id``."""
    if exc.code() == grpc.StatusCode.NOT_FOUND:
        return GatewayError(
            "No request with this id was found (it may be too recent, or not an id this "
            "gateway gave).",
            http_status=404,
            error_type="invalid_request_error",
            param="id",
            code="request_not_found",
        )
    error = from_rpc_error(exc, _SERVICE)
    if error.code == FEEDBACK_NOT_ANSWER_REASON.lower():
        return InvalidRequest(
            "This id is an embeddings request: feedback scores chat answers (chat completions, "
            "messages, responses).",
            "id",
            code="request_not_an_answer",
        )
    if error.code == FEEDBACK_NOT_OWNER_REASON.lower():
        return PermissionDenied("This request was made with another API key.", "id")
    return error
