"""What the gateway knows about a request before an endpoint runs: id, caller and deadline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from starlette.datastructures import Headers

from gateway.errors import InvalidRequest

__all__ = ["TIMEOUT_HEADER", "TIMEOUT_PATTERN", "RequestContext", "request_timeout"]

TIMEOUT_HEADER: Final = "x-request-timeout"
# Decimal seconds, at least 1 (shorter deadlines cannot fit a model call; they would only
# turn into 504s). The OpenAPI document publishes the same pattern.
TIMEOUT_PATTERN: Final = re.compile(r"0*[1-9][0-9]{0,8}(?:\.[0-9]{1,9})?")


@dataclass(frozen=True)
class RequestContext:
    """One request's id, the id of the API key it presented, and its deadline."""

    # X-Request-Id: the client's when tame, else generated; sent to the router as request_id.
    request_id: str
    # Id of the API key that authenticated the request; None when auth is off.
    api_key_id: str | None
    # Seconds the whole request may take: the gRPC deadline of the calls it makes.
    timeout_s: float


def request_timeout(headers: Headers, cap_s: float) -> float:
    """The request's deadline: X-Request-Timeout seconds (at least 1), at most
    ``cap_s``; ``cap_s`` when the header is absent.

    OpenAI's ``timeout`` is a client-side setting and never reaches the server, so this header
    is the only way a client shortens the deadline.
    """
    text = headers.get(TIMEOUT_HEADER)
    if text is None:
        return cap_s
    if not TIMEOUT_PATTERN.fullmatch(text.strip()):
        raise InvalidRequest(
            "Invalid 'X-Request-Timeout' header: expected decimal seconds of at least 1 "
            f"(e.g. 30 or 2.5), got {text[:32]!r}.",
            TIMEOUT_HEADER,
            code="invalid_request_timeout",
        )
    return min(float(text), cap_s)
