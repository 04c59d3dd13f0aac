"""The upstream client's connection reuse, against a raw HTTP server that times its bytes."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from router_svc.errors import ConnectionFailed, ProviderError, UpstreamTimeout
from router_svc.providers.transport import UpstreamClient, classify_transport

_EVENTS = b"data: {}\n\ndata: [DONE]\n\n"


class TimedSSE:
    """Answers each POST with an SSE body whose terminating chunk comes ``last_after`` later,
    or (``endless``) keeps sending events until the client leaves."""

    def __init__(self, last_after: float = 0.0, endless: bool = False) -> None:
        self.last_after = last_after
        self.endless = endless
        self.connections = 0
        self.closed = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                if self.endless:
                    while True:
                        writer.write(b"%x\r\n%s\r\n" % (len(b"data: {}\n\n"), b"data: {}\n\n"))
                        await writer.drain()
                        await asyncio.sleep(self.last_after or 0.01)
                writer.write(b"%x\r\n%s\r\n" % (len(_EVENTS), _EVENTS))
                await writer.drain()
                await asyncio.sleep(self.last_after)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            writer.close()


@pytest.fixture
async def client() -> AsyncIterator[tuple[UpstreamClient, TimedSSE]]:
    fake = TimedSSE()
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    upstream = UpstreamClient(f"http://127.0.0.1:{port}", {}, max_connections=4)
    yield upstream, fake
    await upstream.aclose()
    server.close()


async def read_until_done(upstream: UpstreamClient) -> None:
    async with upstream.stream("/s", b"{}", httpx.Timeout(5.0), {}) as response:
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                return  # like the adapters: stop at the protocol's end, not the body's


@pytest.mark.parametrize("last_after", [0.0, 0.02])
async def test_streams_that_end_reuse_their_connection(
    client: tuple[UpstreamClient, TimedSSE], last_after: float
) -> None:
    upstream, fake = client
    fake.last_after = last_after
    for _ in range(3):
        await read_until_done(upstream)
    assert fake.connections == 1


async def test_a_stream_abandoned_midway_is_closed(
    client: tuple[UpstreamClient, TimedSSE],
) -> None:
    upstream, fake = client
    fake.endless = True
    async with upstream.stream("/s", b"{}", httpx.Timeout(5.0), {}) as response:
        async for _ in response.aiter_lines():
            break
    # The upstream sees the connection go (its generation can stop) within the short wait.
    await asyncio.wait_for(fake.closed.wait(), 2.0)


@pytest.mark.parametrize(
    ("raised", "expected", "message"),
    [
        (aiohttp.ConnectionTimeoutError(), UpstreamTimeout, "p timed out (ConnectionTimeoutError)"),
        (aiohttp.SocketTimeoutError(), UpstreamTimeout, "p timed out (SocketTimeoutError)"),
        (TimeoutError(), UpstreamTimeout, "p timed out (ReadTimeout)"),
        (aiohttp.ClientPayloadError("cut"), ConnectionFailed, "p cut the response short"),
        (
            aiohttp.ServerDisconnectedError(),
            ConnectionFailed,
            "p connection failed (ServerDisconnectedError)",
        ),
        (ValueError("bad\nheader"), ConnectionFailed, "p connection failed (LocalProtocolError)"),
    ],
)
def test_transport_failures_map_onto_our_errors(
    raised: BaseException, expected: type[ProviderError], message: str
) -> None:
    # The most specific row wins: aiohttp's timeouts are TimeoutErrors and ClientErrors too.
    error = classify_transport("p", raised)
    assert type(error) is expected
    assert str(error) == message
    assert error.retryable


def test_a_body_that_cannot_be_read_is_a_malformed_response_not_a_request_never_sent() -> None:
    # A ValueError while sending is a header aiohttp refused (the request never left); while
    # reading, the request was sent and the answer is what failed.
    from router_svc.errors import ConnectionFailed, MalformedResponse
    from router_svc.providers.transport import map_transport_errors

    with pytest.raises(ConnectionFailed, match="LocalProtocolError"), map_transport_errors("p"):
        raise ValueError("bad header")
    with (
        pytest.raises(MalformedResponse, match="cannot be read"),
        map_transport_errors("p", reading=True),
    ):
        raise ValueError("bad chunk")


@pytest.mark.parametrize("gap_s", [0.1, 0.5])
async def test_each_read_of_a_stream_is_bounded_by_the_read_timeout(
    client: tuple[UpstreamClient, TimedSSE], gap_s: float
) -> None:
    # Events 0.1 s apart for as long as the client reads: never a wait of 0.3 s, so no
    # timeout however long the stream. The terminating chunk 0.5 s after the events: a wait
    # of 0.5 s, past the 0.3 s limit of a read.
    upstream, fake = client
    fake.endless, fake.last_after = gap_s < 0.3, gap_s
    events = 0
    started = asyncio.get_running_loop().time()
    expected = pytest.raises(
        UpstreamTimeout, match=re.escape("upstream timed out (SocketTimeoutError)")
    )
    with expected if gap_s > 0.3 else contextlib.nullcontext():
        async with upstream.stream("/s", b"{}", httpx.Timeout(0.3), {}) as response:
            async for line in response.aiter_lines():
                events += line.startswith("data:")
                if events == 8:
                    break
    elapsed = asyncio.get_running_loop().time() - started
    assert events == (8 if gap_s < 0.3 else 2)
    assert elapsed < 3
