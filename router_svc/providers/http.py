"""HTTP plumbing shared by the adapters: pooled clients and failure classification."""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import aiohttp
import httpx
import orjson

from llmrouter.telemetry import inject_headers

from ..chat import ChatRequest
from ..config import ProviderConfig
from ..errors import (
    AuthFailed,
    BadUpstreamRequest,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    MalformedResponse,
    ProviderError,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ..redact import MESSAGE_LIMIT, Credentials, upstream_message
from ..urls import AddressPolicy, AddressRefused
from .transport import UpstreamClient

__all__ = [
    "api_key",
    "attempt_timeout",
    "classify_response",
    "classify_transport",
    "make_client",
    "parse_retry_after",
    "post_json",
    "read_json",
    "stream_lines",
]

_CONTEXT = re.compile(
    r"context.length|context_length_exceeded|maximum context|prompt is too long|too many tokens"
    r"|exceeds the context window|input length",
    re.IGNORECASE,
)
_FILTER = re.compile(r"content.filter|content_policy|safety|responsible ai", re.IGNORECASE)


def make_client(
    config: ProviderConfig, headers: dict[str, str], policy: AddressPolicy | None = None
) -> UpstreamClient:
    """One pooled client per provider: keep-alive, explicit limits, no redirects, no cookies,
    connections only to addresses ``policy`` admits."""
    return UpstreamClient(
        config.base_url, headers, max_connections=config.max_connections, policy=policy
    )


def api_key(config: ProviderConfig) -> str:
    """The provider's key from the environment variable named in config ("" when unset)."""
    # Keys pasted or read from files often end in a newline, which no header may carry.
    return os.environ.get(config.api_key_env, "").strip() if config.api_key_env else ""


def parse_retry_after(headers: httpx.Headers, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now(), 0.0)


def _upstream_message(body: bytes) -> tuple[str, str]:
    """(code or type, message) from an OpenAI/Anthropic/Ollama error body, best effort."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    error = data.get("error", data)
    if isinstance(error, str):
        return "", error
    if not isinstance(error, dict):
        return "", ""
    code = error.get("code") or error.get("type") or ""
    message = error.get("message") or ""
    return str(code)[:MESSAGE_LIMIT], str(message)


def classify_response(
    provider: str,
    response: httpx.Response,
    body: bytes,
    credentials: Credentials,
    request: ChatRequest | None = None,
) -> ProviderError:
    """Map a non-2xx upstream answer onto our error set (never echoing the ``credentials``
    sent, key-shaped strings, nor the ``request``'s content: see :mod:`router_svc.redact`)."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers)
    code, raw = _upstream_message(body)
    # Uncut so the classifying regexes see more than is shown; upstream_message still reads at
    # most RAW_LIMIT characters of it, however long the body.
    message = upstream_message(raw, credentials, request, limit=None) if raw else ""
    both = f"{code} {message}"
    short = message[:MESSAGE_LIMIT]
    where = f"{provider} answered HTTP {status}"
    if status == 429:
        return RateLimited(f"{where} (rate limited)", retry_after=retry_after, http_status=status)
    if status in (401, 403):
        # Auth error bodies can echo part of the key: never pass them on.
        return AuthFailed(f"{where} (credentials rejected)", http_status=status)
    if status == 408:
        return UpstreamTimeout(f"{where} (request timeout)", http_status=status)
    if status >= 500:
        return UpstreamUnavailable(
            f"{where} (unavailable)", retry_after=retry_after, http_status=status
        )
    if status < 400:
        # A redirect is never followed (it could carry our key elsewhere): the base URL is
        # wrong for this provider, which is its fault, not the caller's.
        return UpstreamUnavailable(f"{where} (redirect not followed)", http_status=status)
    if _CONTEXT.search(both):
        return ContextLengthExceeded(
            f"{where}: {short or 'context length exceeded'}", http_status=status
        )
    if _FILTER.search(both):
        return ContentFiltered(f"{where}: content filtered", http_status=status)
    if status == 404:
        # Usually a model id this endpoint does not serve: a configuration fault, not the caller's.
        return UpstreamUnavailable(f"{where} (model or endpoint not found)", http_status=status)
    return BadUpstreamRequest(f"{where}: {short or 'bad request'}", http_status=status)


def classify_transport(provider: str, exc: httpx.HTTPError) -> ProviderError:
    """Map an httpx transport failure onto our error set."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError) and isinstance(
        cause.os_error, AddressRefused
    ):
        # Vetted at connect time (DNS rebinding): say why, without the resolver's errno.
        return ConnectionFailed(f"{provider} not connected: {cause.os_error.strerror}")
    if isinstance(cause, aiohttp.ClientError):
        # The transport keeps aiohttp's exception as the cause: it says more than httpx's type.
        if isinstance(cause, aiohttp.ServerTimeoutError):
            return UpstreamTimeout(f"{provider} timed out ({type(cause).__name__})")
        if isinstance(cause, aiohttp.ClientPayloadError):
            return ConnectionFailed(f"{provider} cut the response short")
        return ConnectionFailed(f"{provider} connection failed ({type(cause).__name__})")
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"{provider} timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.DecodingError):
        return MalformedResponse(f"{provider} sent an undecodable body")
    return ConnectionFailed(f"{provider} connection failed ({type(exc).__name__})")


def read_json(provider: str, body: bytes) -> dict[str, object]:
    """Parse a JSON object body or raise MalformedResponse."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedResponse(f"{provider} sent invalid JSON") from None
    if not isinstance(data, dict):
        raise MalformedResponse(f"{provider} sent JSON that is not an object")
    return data


def attempt_timeout(config: ProviderConfig, read_timeout: float) -> httpx.Timeout:
    """httpx timeouts for one attempt: reads bounded by the time left, connect by config."""
    return httpx.Timeout(read_timeout, connect=min(config.connect_timeout_s, read_timeout))


async def post_json(
    client: UpstreamClient,
    config: ProviderConfig,
    path: str,
    body: bytes,
    request: ChatRequest,
    read_timeout: float,
) -> Any:
    """POST ``body``, classify any failure, return the parsed JSON object."""
    try:
        response = await client.post(
            path, body, attempt_timeout(config, read_timeout), inject_headers({})
        )
        raw = response.content
    except httpx.HTTPError as exc:
        raise classify_transport(config.name, exc) from None
    if response.status_code >= 300:
        raise classify_response(config.name, response, raw, client.credentials, request)
    return read_json(config.name, raw)


async def stream_lines(
    client: UpstreamClient,
    config: ProviderConfig,
    path: str,
    body: bytes,
    request: ChatRequest,
    read_timeout: float,
) -> AsyncGenerator[str, None]:
    """POST ``body`` and yield the response's lines (SSE or NDJSON); failures are classified.

    Closing the iterator early closes the response, which cancels the upstream request.
    """
    try:
        async with client.stream(
            path, body, attempt_timeout(config, read_timeout), inject_headers({})
        ) as response:
            if response.status_code >= 300:
                body = await response.aread()
                raise classify_response(config.name, response, body, client.credentials, request)
            async for line in response.aiter_lines():
                yield line
    except httpx.HTTPError as exc:
        raise classify_transport(config.name, exc) from None
