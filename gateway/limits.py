"""Limits on the gateway's HTTP/1.1 connections, applied before a request reaches the app.

uvicorn's httptools protocol has no header size cap (httptools keeps appending an unfinished
header in memory), no header or body read timeout, and no connection cap (``limit_concurrency``
answers 503 per request but keeps accepting sockets); its only timer is the keep-alive one,
armed after a response. :class:`LimitedHttpToolsProtocol` adds, per connection:

* ``max_header_bytes``: the request line and headers of one request; beyond it the answer is
  431 and the connection closes. Bytes are counted as they arrive, so an unfinished header
  costs at most the limit plus one socket read (256 KiB with uvloop), not what the client sends.
* ``header_timeout_s``: from the connection's start (or a request's first byte on a reused
  connection) to the end of its headers; then 408 (or a silent close if nothing came).
* ``body_timeout_s``: the longest pause between two reads of a request body; then 408. The
  timer stops while uvicorn itself stops reading (back-pressure), which is not the client's fault.
* ``body_deadline_s``: the whole body, from the end of the headers; then 408. A client sending
  a byte just within each pause would otherwise hold its connection for as long as it likes.
  While we are the ones not reading, the deadline moves so the client keeps one whole pause.
* ``max_connections``: a connection beyond it gets 503 and is closed at once.

An error answer follows nginx's lingering close: the response, then our FIN, then whatever the
client still sends is read and dropped for up to :data:`LINGER_S` seconds, so a client that is
still sending sees the status instead of a connection reset.

The app may answer before it has read the body (413 for a body over ``gateway.max_body_bytes``,
401 for a missing key). The rest of the body is then read and dropped, up to
:data:`DRAIN_BYTES`, before the connection is reused or closed: a client that reads only once
it has sent everything (urllib, anything sending ``Connection: close`` or HTTP/1.0, which
uvicorn alone closes at once) gets the answer instead of a broken pipe. A body that goes on
beyond the bound (or announces more) gets a lingering close instead. After the answer, a
stalled body ends the connection without a second answer.
"""

from __future__ import annotations

import asyncio
import http
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.errors import GatewayError

__all__ = [
    "DRAIN_BYTES",
    "LINGER_S",
    "ConnectionLimits",
    "LimitedHttpToolsProtocol",
    "protocol_class",
]

# How long a refused connection keeps draining what the client sends before it is closed.
LINGER_S = 1.0
# Bytes of a request body read and dropped after the app has answered without reading them.
DRAIN_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The per-connection limits :class:`LimitedHttpToolsProtocol` applies."""

    # Request line plus header fields of one request, in bytes.
    max_header_bytes: int = 32768
    # Seconds from a connection's start (or a request's first byte) to the end of its headers.
    header_timeout_s: float = 10.0
    # Longest pause between two reads of a request body, in seconds.
    body_timeout_s: float = 30.0
    # Seconds from the end of the headers to the end of the body, however steadily it comes.
    body_deadline_s: float = 120.0
    # Open connections at once; more are answered 503 and closed.
    max_connections: int = 1000


def protocol_class(limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
    """A :class:`LimitedHttpToolsProtocol` subclass applying ``limits`` (for ``uvicorn.Config``)."""
    return cast(
        "type[LimitedHttpToolsProtocol]",
        type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits}),
    )


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`ConnectionLimits` (see the module docstring)."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # Waiting for (or reading) the headers of the next request.
        self._in_headers = True
        # Bytes received since _in_headers was set; a request that starts in the middle of a
        # read is counted from the next read (at most one read more than the limit).
        self._header_bytes = 0
        # The next request has sent its first byte.
        self._started = False
        # Headers done, body still arriving.
        self._in_body = False
        # Answered with an error: the rest is read and dropped until the connection closes.
        self._refused = False
        # The header or body deadline (or the lingering close), whichever applies now.
        self._timer: asyncio.TimerHandle | None = None
        # Loop time by which the body of the current request must be complete, and whether the
        # body timer is armed for it (rather than for a pause).
        self._body_deadline = 0.0
        self._at_deadline = False
        # Body bytes still announced by Content-Length (None: chunked; 0: no body), and bytes
        # dropped since the app answered without reading them.
        self._body_left: int | None = None
        self._drained = 0
        # uvicorn asked to close while the body was still arriving: close once it has.
        self._close_after_body = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Refuse a connection beyond ``max_connections``; start the header deadline."""
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            # No lingering here: a flood of refused connections must not hold sockets.
            transport.write(_answer(503, "The gateway has too many open connections.", 1))
            transport.close()
            self._refused = True
            return
        self._arm(self.limits.header_timeout_s, self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the timers, then let uvicorn clean up."""
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, then check the header size and (re)start the deadline that applies."""
        if self._refused:
            return
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._refused or self.transport.is_closing():
            return
        if self._in_headers:
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse_too_large()
            elif self._started and self._timer is None:
                self._arm(self.limits.header_timeout_s, self._header_timeout)
        elif self._in_body:
            self._arm_body()

    # Parser callbacks: after a refusal the rest of the read is ignored.

    def on_message_begin(self) -> None:
        """A request starts."""
        if self._refused:
            return
        super().on_message_begin()
        self._started = True

    def on_headers_complete(self) -> None:
        """Check the size of the complete headers, then hand the request to uvicorn."""
        if self._refused:
            return
        self._in_headers = False
        self._cancel_timer()
        # As sent, minus the method and version: name ": " value CRLF per field.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse_too_large()
            return
        self._in_body = True
        self._body_deadline = self.loop.time() + self.limits.body_deadline_s
        self._body_left = _body_size(self.headers)
        self._drained = 0
        super().on_headers_complete()
        cycle = self.cycle
        if self._body_left != 0 and cycle is not None and cycle.scope is self.scope:
            # uvicorn closes through the cycle's transport once a response with
            # "connection: close" is sent; this one waits for the body first.
            cycle.transport = cast("asyncio.Transport", _CloseAfterBody(self))

    def on_body(self, body: bytes) -> None:
        """A piece of the body: to the app, or dropped (and counted) once it has answered."""
        if self._refused:
            return
        if self._body_left is not None:
            self._body_left -= len(body)
        if self.cycle.response_complete:
            self._drained += len(body)
            if self._drained > DRAIN_BYTES:
                self._linger()
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The request is complete: its deadlines end and the next request's bytes count."""
        if self._refused:
            return
        super().on_message_complete()
        self._in_body = False
        self._in_headers = True
        self._started = False
        self._header_bytes = 0
        self._cancel_timer()
        if self._close_after_body:
            self.transport.close()
        elif self.cycle.response_complete and not self.pipeline:
            # Drained after the answer: uvicorn armed its keep-alive timer when it answered,
            # and the body's bytes cancelled it; an idle connection needs it again.
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def close_after_body(self) -> None:
        """Close now, or (when the app has answered and the body is still arriving) once the
        body has been read and dropped: see the module docstring."""
        if self.transport.is_closing():
            return
        if not (self._in_body and self.cycle.response_complete):
            self.transport.close()
        elif self._body_left is not None and self._body_left > DRAIN_BYTES - self._drained:
            self._linger()  # more is announced than we read for nothing
        else:
            self._close_after_body = True

    def _unsupported_upgrade_warning(self) -> None:
        """Serve an ``Upgrade`` request as plain HTTP without a warning per request: WebSockets
        are off by design, not for want of a library (uvicorn's warning says so)."""

    # Deadlines and refusals.

    def _arm(self, delay_s: float, callback: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(delay_s, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _header_timeout(self) -> None:
        self._timer = None
        if self.flow.read_paused:  # we stopped reading (a pipelined request waits)
            self._arm(self.limits.header_timeout_s, self._header_timeout)
        elif self._started:
            limit = self.limits.header_timeout_s
            self._refuse(408, f"Request headers not received within {limit:g} seconds.")
        else:
            self.transport.close()  # nothing was asked: nothing to answer

    def _arm_body(self) -> None:
        """Wait for the next piece of body: one pause at most, and not past the deadline."""
        remaining = self._body_deadline - self.loop.time()
        self._at_deadline = remaining <= self.limits.body_timeout_s
        self._arm(max(min(self.limits.body_timeout_s, remaining), 0.0), self._body_timeout)

    def _body_timeout(self) -> None:
        self._timer = None
        if self.cycle.response_complete:  # answered already: no second answer, just close
            self.transport.close()
            return
        waiting = self.flow.read_paused or self.cycle.waiting_for_100_continue
        if waiting:  # back-pressure, or the client waits for our 100 Continue: not its fault
            pause = self.limits.body_timeout_s
            self._body_deadline = max(self._body_deadline, self.loop.time() + pause)
            self._at_deadline = False
            self._arm(pause, self._body_timeout)
        elif self._at_deadline:
            limit = self.limits.body_deadline_s
            self._refuse(408, f"Request body not received within {limit:g} seconds.")
        else:
            limit = self.limits.body_timeout_s
            self._refuse(408, f"Request body stalled for more than {limit:g} seconds.")

    def _refuse_too_large(self) -> None:
        limit = self.limits.max_header_bytes
        self._refuse(431, f"Request header fields too large: the limit is {limit} bytes.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` unless a response is under way, then close after lingering."""
        self._refused = True
        self._cancel_timer()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The app waits for this request's body: it sees a disconnect, its answer is dropped.
            cycle.keep_alive = False
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
                return
        self.transport.write(_answer(status, message))
        self._linger()

    def _linger(self) -> None:
        """Send our FIN, then read and drop what still comes for LINGER_S seconds; close."""
        self._refused = True
        self._cancel_timer()
        if self.transport.is_closing():
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._timer = self.loop.call_later(LINGER_S, self.transport.close)


class _CloseAfterBody:
    """The transport as a request's cycle sees it: ``close`` waits for the request's body
    (:meth:`LimitedHttpToolsProtocol.close_after_body`); everything else is the transport's."""

    def __init__(self, protocol: LimitedHttpToolsProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        # What the cycle calls per response, bound here rather than found by __getattr__.
        self.write = self._transport.write
        self.is_closing = self._transport.is_closing

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        """Close the connection once the body is in (or now, when nothing is arriving)."""
        self._protocol.close_after_body()


def _body_size(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The request body's announced size: its Content-Length, None when chunked, 0 when
    neither header is there (no body, RFC 9112 section 6.3)."""
    size = 0
    for name, value in headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length" and value.strip().isdigit():
            size = int(value)
    return size


def _answer(status: int, message: str, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 response with an OpenAI-shaped error body and ``connection: close``."""
    error_type = "service_unavailable_error" if status == 503 else "invalid_request_error"
    phrase = http.HTTPStatus(status).phrase
    code = phrase.lower().replace(" ", "_")
    error = GatewayError(message, code=code, http_status=status, error_type=error_type)
    body = orjson.dumps(error.body())
    retry = f"retry-after: {retry_after}\r\n" if retry_after is not None else ""
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{retry}connection: close\r\n\r\n"
    )
    return head.encode() + body
