"""The upstream HTTP client: httpx's request/response API over one aiohttp connection pool.

CPU per upstream call, measured on our 2-core box against ``bench/upstream.js`` (32 calls in
flight; the README's Performance section has the end-to-end effect):

* ``httpx.AsyncClient`` over httpcore: 1,614 µs;
* ``httpx.AsyncClient`` over the ``httpx-aiohttp`` transport: 391 µs;
* this module (httpx ``Request``/``Response`` over a lean aiohttp transport, no client
  layer): 218 µs; aiohttp alone: 125 µs.

What we skip is what an upstream API call never needs: the client's cookie jar (a shared jar
would leak one caller's cookies to the next), its auth flow and redirect machinery (redirects
are never followed: they could carry our key to another host), and event hooks. What we keep
is httpx's value types (``httpx.Request``/``httpx.Response``/``httpx.Headers``/``httpx.Timeout``).

Failures leave this module as our own errors: :data:`TRANSPORT_ERRORS` (in
:mod:`.transport_errors`) maps aiohttp's, asyncio's and the resolver's exceptions onto
:mod:`router_svc.errors` at this boundary (as httpx maps httpcore's), so nothing above the
transport inspects aiohttp types.

Every new connection resolves its host through :class:`~.resolver.VettedResolver`, which
refuses addresses the base-URL rules refuse (DNS rebinding): ~3 µs per DNS answer on top of the
lookup, nothing for pooled connections (``bench/connect.py``).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
import yarl

from ..errors import ProviderError
from ..redact import Credentials
from ..urls import AddressPolicy
from ..waits import WaitLimit
from .pool import PoolStats, WatchedConnector
from .resolver import resolver_for
from .transport_errors import TRANSPORT_ERRORS, classify_transport, map_transport_errors

__all__ = [
    "TRANSPORT_ERRORS",
    "AiohttpTransport",
    "UpstreamClient",
    "classify_transport",
    "map_transport_errors",
]

# Extension asking the transport to read the whole body before returning (unary calls):
# the response then holds ``content`` and no stream, which saves httpx's chunked read path.
BUFFER = "llmrouter.buffer"
# How long, and how many bytes, closing a stream waits for the rest of its body.
_DRAIN_S = 0.05
_DRAIN_BYTES = 64 * 1024


def _user_agent() -> str:
    try:
        return f"llmrouter/{importlib.metadata.version('llmrouter')}"
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        return "llmrouter"


_USER_AGENT = _user_agent()


class _Stream(httpx.AsyncByteStream):
    """An aiohttp response body as httpx's stream; closing it releases the connection."""

    def __init__(
        self, response: aiohttp.ClientResponse, provider: str, read_s: float | None = None
    ) -> None:
        self._response = response
        self._provider = provider
        # Each read's time limit, when this stream keeps it (see AiohttpTransport): one timer
        # for all the reads instead of aiohttp's, set again for every packet received.
        self._read_s = read_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        read_s = self._read_s
        waits = WaitLimit() if read_s else None
        try:
            with map_transport_errors(self._provider, reading=True):
                while True:
                    try:
                        if waits is None:
                            chunk = await content.readany()
                        else:
                            with waits.within(read_s or 0.0):
                                chunk = await content.readany()
                    except TimeoutError:
                        # What aiohttp's own read timeout raises, reported the same way.
                        raise aiohttp.SocketTimeoutError(
                            "Timeout on reading data from socket"
                        ) from None
                    except aiohttp.ClientPayloadError:
                        # Once the connection breaks aiohttp raises at once, dropping the bytes it
                        # had received and not yet handed out; pass those on first (a stream's
                        # finish may be among them), then the failure.
                        rest = _received(content)
                        if rest:
                            yield rest
                        raise
                    if not chunk:
                        break
                    yield chunk
        finally:
            if waits is not None:
                waits.close()  # closed early too: no timer left behind

    async def aclose(self) -> None:
        # Readers stop at the protocol's own end ("data: [DONE]", a done line), which usually
        # comes just before the body's terminating chunk: wait briefly for it so the
        # connection goes back to the pool instead of costing the next stream a new TCP (and
        # TLS) handshake. A stream abandoned midway does not end within the wait and is
        # dropped, which the upstream sees as a cancel.
        response = self._response
        try:
            if not response.content.at_eof():
                async with asyncio.timeout(_DRAIN_S):
                    drained = 0
                    while drained < _DRAIN_BYTES and not response.content.at_eof():
                        rest = await response.content.readany()
                        if not rest:
                            break
                        drained += len(rest)
        except (TimeoutError, aiohttp.ClientError):
            pass
        finally:
            if response.content.at_eof():
                response.release()
            else:
                response.close()


def _received(content: aiohttp.StreamReader) -> bytes:
    """The bytes ``content`` holds but has not handed out (aiohttp 3.x keeps them after a
    failure; its public reads raise instead). Empty when its internals are not as expected."""
    try:
        rest = content._read_nowait(-1)
    except Exception:  # private API: any surprise means there is nothing to salvage
        return b""
    return rest if isinstance(rest, bytes) else b""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport on one aiohttp pool: keep-alive, at most ``max_connections`` (0: no
    limit; a request beyond it waits, counted in ``pool``), no proxies from the env, new
    connections only to addresses ``policy`` admits; failures raise our errors, naming
    ``provider``."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float = 30.0,
        policy: AddressPolicy | None = None,
        provider: str = "upstream",
    ) -> None:
        self._provider = provider
        # The pool's limit (0: none) and its queue: requests waiting for a connection.
        self.pool = PoolStats(max_connections)
        self._keepalive_expiry = keepalive_expiry
        self._policy = policy or AddressPolicy()
        self._session: aiohttp.ClientSession | None = None
        # Parsed URLs by their text: an adapter posts to a handful of fixed URLs.
        self._urls: dict[str, yarl.URL] = {}

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use so that it binds the running loop.
        connector = WatchedConnector(
            self.pool,
            self._provider,
            keepalive_timeout=self._keepalive_expiry,
            ttl_dns_cache=60,
            resolver=resolver_for(self._policy),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=True,
            # Cookies from one upstream answer must never ride along on another caller's call.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
        )
        return self._session

    def _url(self, url: httpx.URL) -> yarl.URL:
        text = str(url)
        parsed = self._urls.get(text)
        if parsed is None:
            if len(self._urls) > 64:
                self._urls.clear()
            parsed = self._urls[text] = yarl.URL(text, encoded=True)
        return parsed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        limits: dict[str, Any] = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=limits.get("pool"),
            sock_connect=limits.get("connect"),
            sock_read=limits.get("read"),
        )
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        with map_transport_errors(self._provider):
            response = await session.request(
                request.method,
                self._url(request.url),
                headers=headers,
                data=request.content or None,
                allow_redirects=False,
                timeout=timeout,
            )
        raw_headers = [
            (k, v)
            for k, v in response.raw_headers
            # aiohttp already decoded the body: these would make httpx decode it again.
            if k.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")
        ]
        if request.extensions.get(BUFFER):
            try:
                with map_transport_errors(self._provider, reading=True):
                    body = await response.read()
            except ProviderError:
                response.close()
                raise
            response.release()
            return httpx.Response(
                response.status, headers=raw_headers, content=body, request=request
            )
        read_s = limits.get("read")
        protocol = response.connection.protocol if response.connection is not None else None
        if read_s and protocol is not None and hasattr(protocol, "read_timeout"):
            # The body's reads are bounded by _Stream. aiohttp's timer for the headers still
            # runs until the next packet, which is also the first read's limit.
            protocol.read_timeout = None
        else:
            read_s = None
        return httpx.Response(
            response.status,
            headers=raw_headers,
            stream=_Stream(response, self._provider, read_s),
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class UpstreamClient:
    """POSTs to one provider: fixed headers, a base URL that admins may change, timeouts per
    attempt, connections only where ``policy`` admits. Returns httpx's responses; failures to
    connect or read raise :class:`router_svc.errors.ProviderError` subclasses naming ``name``.

    ``credentials`` are the secrets among ``headers``, for redacting upstream error messages.
    """

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        max_connections: int,
        policy: AddressPolicy | None = None,
        name: str = "upstream",
    ) -> None:
        self.credentials = Credentials.from_headers(headers)
        self._headers = list(headers.items())
        if not any(name.lower() == "user-agent" for name, _ in self._headers):
            # Some API front doors turn away requests that carry no user agent at all.
            self._headers.append(("user-agent", _USER_AGENT))
        self._transport = AiohttpTransport(
            max_connections=max_connections, policy=policy, provider=name
        )
        # The connection pool's limit and queue (see .pool).
        self.pool = self._transport.pool
        self._urls: dict[str, httpx.URL] = {}
        self.base_url = base_url

    @property
    def base_url(self) -> str:
        return self._base_url

    @base_url.setter
    def base_url(self, url: str) -> None:
        self._base_url = url.rstrip("/")
        self._urls = {}

    def _request(
        self, path: str, body: bytes, limits: httpx.Timeout, extra: dict[str, str], buffer: bool
    ) -> httpx.Request:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self._base_url + path)
        headers = self._headers + list(extra.items()) if extra else self._headers
        extensions: dict[str, Any] = {"timeout": limits.as_dict()}
        if buffer:
            extensions[BUFFER] = True
        return httpx.Request("POST", url, headers=headers, content=body, extensions=extensions)

    async def post(
        self, path: str, body: bytes, limits: httpx.Timeout, extra: dict[str, str]
    ) -> httpx.Response:
        """POST and read the whole answer."""
        request = self._request(path, body, limits, extra, buffer=True)
        return await self._transport.handle_async_request(request)

    @asynccontextmanager
    async def stream(
        self, path: str, body: bytes, limits: httpx.Timeout, extra: dict[str, str]
    ) -> AsyncIterator[httpx.Response]:
        """POST and yield the response with its body unread; leaving closes it."""
        request = self._request(path, body, limits, extra, buffer=False)
        response = await self._transport.handle_async_request(request)
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()
