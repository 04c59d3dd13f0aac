"""The HTTP base every remote adapter builds on: it posts JSON, reads SSE or NDJSON lines,
bounds each attempt in time and classifies failures; the adapters are codecs over it."""

from __future__ import annotations

import abc
import email.utils
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import Any, ClassVar, Literal, get_args

import httpx
import orjson

from llmrouter.telemetry import inject_headers

from ..chat import ChatRequest, Completion, FinishReason, StreamEvent, TokenUsage, ToolCall
from ..config import ProviderConfig
from ..embeddings import EmbedCall
from ..errors import (
    AuthFailed,
    BadUpstreamRequest,
    ContentFiltered,
    ContextLengthExceeded,
    MalformedResponse,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ..redact import MESSAGE_LIMIT, Credentials, upstream_message
from ..urls import AddressPolicy
from .base import Provider
from .call import ProviderCall
from .counts import MAX_TOKEN_COUNT, MalformedUsage
from .dialects import by_status, find, parse
from .extras import collision, merged, not_allowed
from .framing import payloads
from .lenient import SHAPE_ERRORS, StreamDecoder, decode
from .transport import UpstreamClient

__all__ = [
    "HttpProvider",
    "api_key",
    "attempt_timeout",
    "classify_response",
    "parse_retry_after",
    "read_json",
    "well_formed",
]

_FINISH_REASONS = frozenset(get_args(FinishReason))


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


def classify_response(
    provider: str,
    response: httpx.Response,
    body: bytes,
    credentials: Credentials,
    request: ChatRequest | None = None,
    prefill: str = "",
    reported: int | None = None,
) -> ProviderError:
    """Map a non-2xx upstream answer onto our error set by its dialect (:mod:`.dialects`),
    never echoing the ``credentials`` sent, key-shaped strings, the ``request``'s content nor
    the continued answer's ``prefill`` (see :mod:`router_svc.redact`). ``reported`` is the
    status an error body gives when the HTTP status was 2xx (OpenRouter, once it has started:
    "Errors and Debugging" in its API reference); it is what the dialects match on."""
    http_status = response.status_code
    status = http_status if reported is None else reported
    retry_after = parse_retry_after(response.headers)
    where = f"{provider} answered HTTP {http_status}"
    if reported is not None:
        where += f" reporting error {reported}"
    if status < 400:
        # A redirect is never followed (it could carry our key elsewhere): the base URL is
        # wrong for this provider, which is its fault, not the caller's.
        return UpstreamUnavailable(f"{where} (redirect not followed)", http_status=http_status)
    parsed = parse(body)

    def clean(text: str) -> str:
        # Uncut, so the patterns see more than is shown (at most RAW_LIMIT is read).
        return upstream_message(text, credentials, request, None, prefill) if text else ""

    # Redacted before matching too: the caller's own words echoed back never decide.
    message = clean(parsed.message)
    row = find(status, replace(parsed, message=message, extra=clean(parsed.extra)))
    kind = row.kind if row is not None else by_status(status)
    short = message[:MESSAGE_LIMIT]
    if kind is RateLimited:
        return RateLimited(
            f"{where} (rate limited)", retry_after=retry_after, http_status=http_status
        )
    if kind is QuotaExhausted:
        return QuotaExhausted(f"{where} (quota or credit exhausted)", http_status=http_status)
    if kind is AuthFailed:
        # Auth error bodies can echo part of the key: never pass them on.
        what = "payment required" if status == 402 else "credentials rejected"
        return AuthFailed(f"{where} ({what})", http_status=http_status)
    if kind is UpstreamTimeout:
        return UpstreamTimeout(f"{where} (request timeout)", http_status=http_status)
    if kind is ContextLengthExceeded:
        return ContextLengthExceeded(
            f"{where}: {short or 'context length exceeded'}", http_status=http_status
        )
    if kind is ContentFiltered:
        # Never the body: a moderation error can quote the flagged input.
        return ContentFiltered(f"{where}: content filtered", http_status=http_status)
    if kind is UpstreamUnavailable:
        # A 404 is usually a model id this endpoint does not serve: configuration, not ours.
        what = "model or endpoint not found" if status == 404 else "unavailable"
        return UpstreamUnavailable(
            f"{where} ({what})", retry_after=retry_after, http_status=http_status
        )
    bad = BadUpstreamRequest(
        f"{where}: {short or 'bad request'}", http_status=http_status, field=parsed.param
    )
    if parsed.code:
        # OpenAI's code for the caller's own field (e.g. unsupported_value), passed on.
        bad.metadata["upstream_code"] = parsed.code
    return bad


def read_json(provider: str, body: bytes) -> dict[str, object]:
    """Parse a JSON object body or raise MalformedResponse."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedResponse(f"{provider} sent invalid JSON") from None
    if not isinstance(data, dict):
        raise MalformedResponse(f"{provider} sent JSON that is not an object")
    return data


def well_formed(completion: Completion) -> bool:
    """Whether ``completion`` holds what its type says: text, a known finish reason, tool
    calls of strings and integer counts from 0 to MAX_TOKEN_COUNT (a codec passes on what it
    was sent)."""
    usage = completion.usage
    counts = (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
        usage.cache_write_1h_tokens,
    )
    return (
        isinstance(completion.content, str)
        and isinstance(completion.reasoning_content, str)
        and isinstance(completion.upstream_model, str)
        and completion.finish_reason in _FINISH_REASONS
        and isinstance(completion.tool_calls, tuple)
        and all(
            isinstance(c, ToolCall) and all(isinstance(v, str) for v in (c.id, c.name, c.arguments))
            for c in completion.tool_calls
        )
        and all(type(n) is int and 0 <= n <= MAX_TOKEN_COUNT for n in counts)
    )


def attempt_timeout(config: ProviderConfig, read_timeout: float) -> httpx.Timeout:
    """httpx timeouts for one attempt: reads bounded by the time left, connect by config."""
    return httpx.Timeout(read_timeout, connect=min(config.connect_timeout_s, read_timeout))


class HttpProvider(Provider):
    """An upstream spoken to over HTTP with JSON bodies, through one pooled client.

    Subclasses are codecs: they name their ``path``, ``framing`` and ``stream_end`` and
    implement :meth:`encode`, :meth:`decode` and :meth:`decoder`; this class sends, reads,
    times out and classifies, and reads streams leniently (:mod:`.lenient`).
    """

    path: ClassVar[str]
    """Path of the chat endpoint below the base URL."""
    framing: ClassVar[Literal["sse", "ndjson"]] = "sse"
    """How stream bodies frame events: server-sent ``data:`` lines or JSON lines."""
    stream_end: ClassVar[str]
    """The protocol's end of stream, named when a stream stops before it."""
    incomplete: ClassVar[str] = "a response without a message"
    """What a unary answer that :meth:`decode` cannot read is said to be."""

    def __init__(self, config: ProviderConfig, policy: AddressPolicy | None = None) -> None:
        super().__init__(config, policy)
        # One pooled client per provider: keep-alive, explicit limits, no redirects, no
        # cookies, connections only to addresses ``policy`` admits.
        self._client = UpstreamClient(
            config.base_url,
            self.headers(api_key(config)),
            max_connections=config.max_connections,
            policy=policy,
            name=config.name,
        )
        self.pool = self._client.pool

    def headers(self, key: str) -> dict[str, str]:
        """The fixed request headers, carrying ``key`` ("" when none is configured)."""
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        return headers

    @abc.abstractmethod
    def encode(self, call: ProviderCall, *, stream: bool) -> dict[str, Any]:
        """The request body for ``call``."""

    def upstream_body(self, call: ProviderCall, *, stream: bool) -> bytes:
        """The encoded request body, with the caller's extras merged in (:mod:`.extras`)."""
        body = self.encode(call, stream=stream)
        if call.request.extra_body:
            body = merged(body, orjson.loads(call.request.extra_body))
        return orjson.dumps(body)

    def refuses(self, request: ChatRequest) -> str:
        """``extra_body.<key>`` for an extra this provider does not take: one not in its
        ``extra_body_keys``, one the router owns (:data:`.extras.ROUTER_OWNED`), or one that
        would override a key this codec sets, plain or continuing an answer (prefill)."""
        if not request.extra_body:
            return ""
        extra = orjson.loads(request.extra_body)
        if found := not_allowed(extra, self.config.extra_body_keys):
            return f"extra_body.{found}"
        for prefill in ("", "\u2026"):
            probe = self.encode(ProviderCall("", request, 0.0, prefill=prefill), stream=True)
            if found := collision(probe, extra):
                return f"extra_body.{found}"
        return ""

    @abc.abstractmethod
    def decode(self, call: ProviderCall, data: Any) -> Completion:
        """The completion in a unary answer (``KeyError``, ``TypeError``... when it has none)."""

    @abc.abstractmethod
    def decoder(self, call: ProviderCall) -> StreamDecoder:
        """A decoder for one stream's events (SSE ``data`` payloads or JSON lines)."""

    def reported_usage(self, data: dict[str, Any]) -> TokenUsage | None:
        """The counts a whole answer ``data`` that cannot be read reports readably (estimated
        when some are not), billed to its failed attempt: the provider billed them. None
        when it reports none (the default, for kinds that report no usage). Never raises."""
        return None

    def decode_stream(
        self, call: ProviderCall, events: AsyncIterator[str]
    ) -> AsyncGenerator[StreamEvent, None]:
        """Our events from the stream's events, ending with ``StreamEnd``; failures, reported
        in the stream or not, raise ``ProviderError`` (the rules: :mod:`.lenient`)."""
        return decode(
            self.name,
            self.decoder(call),
            events,
            end_marker=self.stream_end,
            finish_grace_s=call.finish_grace_s,
            on_skip=self._skipped,
            seen=call.seen,
        )

    def _skipped(self) -> None:
        self.skipped_chunks += 1

    async def complete(self, call: ProviderCall) -> Completion:
        """One non-streaming call."""
        body = self.upstream_body(call, stream=False)
        response = await self._client.post(self.path, body, self._limits(call), _trace(call))
        raw = response.content
        if response.status_code >= 300:
            raise classify_response(
                self.name, response, raw, self._client.credentials, call.request, call.prefill
            )
        return self.read_answer(call, raw)

    def read_answer(self, call: ProviderCall, body: bytes) -> Completion:
        """The completion in a whole (non-streamed) answer ``body``.

        Any shape :meth:`decode` does not expect (a missing key, a wrong type, null where a
        list was, content that is not text, counts that are not counts: :mod:`.counts`) is a
        ``MalformedResponse``: retryable, so the attempt is booked and the chain goes on,
        billed the counts the answer reported readably (:meth:`reported_usage`).
        """
        data = read_json(self.name, body)
        error = data.get("error")
        if error:
            # An error reported in a 200 body: classified by the status it reports (502 when
            # it reports none), like any error answer.
            code = error.get("code") if isinstance(error, dict) else None
            reported = code if type(code) is int and 400 <= code <= 599 else 502
            raise classify_response(
                self.name,
                httpx.Response(200),
                body,
                self._client.credentials,
                call.request,
                call.prefill,
                reported,
            )
        what = self.incomplete
        try:
            completion = self.decode(call, data)
        except MalformedUsage as exc:
            completion, what = None, f"a usage object with unreadable {exc}"
        except SHAPE_ERRORS:
            completion = None
        if completion is None or not well_formed(completion):
            raise MalformedResponse(f"{self.name} sent {what}", usage=self.reported_usage(data))
        return completion

    async def post_embeddings(
        self, path: str, body: dict[str, Any], call: EmbedCall
    ) -> dict[str, Any]:
        """POST an embeddings ``body`` to ``path``; the answer's JSON object. Error answers
        (an error status, or an ``error`` in a 200 body) are classified as chat's, never
        echoing the inputs; a body that is not a JSON object is a ``MalformedResponse``."""
        timeout = attempt_timeout(self.config, call.read_timeout)
        headers = inject_headers({})
        response = await self._client.post(path, orjson.dumps(body), timeout, headers)
        raw = response.content
        credentials = self._client.credentials
        if response.status_code >= 300:
            raise classify_response(self.name, response, raw, credentials, call.carrier)
        data = read_json(self.name, raw)
        error = data.get("error")
        if error:
            code = error.get("code") if isinstance(error, dict) else None
            reported = code if type(code) is int and 400 <= code <= 599 else 502
            raise classify_response(
                self.name, httpx.Response(200), raw, credentials, call.carrier, "", reported
            )
        return data

    def stream(self, call: ProviderCall) -> AsyncIterator[StreamEvent]:
        """The decoded stream; one that stops before it finished is a ``MalformedResponse``.
        Closing it closes the response (the decoder closes what it reads)."""
        return self.decode_stream(call, self._events(call))

    async def _events(self, call: ProviderCall) -> AsyncGenerator[str, None]:
        """POST the streaming request and yield its events' text; failures are classified.

        Closing the iterator early closes the response, which cancels the upstream request.
        """
        body = self.upstream_body(call, stream=True)
        async with self._client.stream(
            self.path, body, self._limits(call), _trace(call)
        ) as response:
            if response.status_code >= 300:
                raw = await response.aread()
                raise classify_response(
                    self.name, response, raw, self._client.credentials, call.request, call.prefill
                )
            # The transport's stream itself (httpx's aiter_raw re-chunks and counts each read).
            stream = response.stream
            chunks = stream if isinstance(stream, httpx.AsyncByteStream) else response.aiter_raw()
            async with aclosing(payloads(chunks, self.framing)) as events:
                async for event in events:
                    yield event

    def _limits(self, call: ProviderCall) -> httpx.Timeout:
        return attempt_timeout(self.config, call.read_timeout)

    def redacted(self, text: str, call: ProviderCall) -> str:
        """Upstream ``text`` fit to pass on: without our credentials, key-shaped strings or the
        caller's content (see :mod:`router_svc.redact`)."""
        return upstream_message(text, self._client.credentials, call.request, prefill=call.prefill)

    def reported(self, message: str, call: ProviderCall, code: str = "") -> ProviderError:
        """The error for a failure the upstream reports inside a stream, its ``error.code`` or
        ``error.type`` being ``code``: QuotaExhausted for ``insufficient_quota``, else
        UpstreamUnavailable."""
        # OpenAI's error-codes guide (429 "You exceeded your current quota": insufficient_quota)
        # and OpenRouter's "Errors during streaming" (the error object sent as a stream event):
        # a quota ran out mid-stream; waiting or retrying the model does not cure it.
        if code == "insufficient_quota":
            return QuotaExhausted(f"{self.name} reported insufficient_quota mid-stream")
        text = self.redacted(message, call)
        return UpstreamUnavailable(f"{self.name} reported an error mid-stream: {text}")

    def _rebase(self, url: str) -> None:
        self._client.base_url = url

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _trace(call: ProviderCall) -> dict[str, str]:
    if call.trace_headers is not None:
        return dict(call.trace_headers)
    return inject_headers({})
