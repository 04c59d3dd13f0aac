"""A request the gateway refuses before reading its body (413 for size, 401 for a key) reaches
the client as that status, not as a broken pipe, however the client sends and reads.

A real gateway (uvicorn on a real socket); the clients are the ones that broke (urllib, which
sends ``Connection: close`` and reads only after sending everything), httpx, and raw sockets
for HTTP/1.0, chunked bodies, keep-alive reuse and bodies beyond the drain bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable

import httpx
import orjson
import pytest

from gateway import RunningGateway
from gateway.limits import DRAIN_BYTES

from .support import AUTH, TEST_KEY, FakeRouter, StartGateway

LIMIT = 4096
CHAT = "/v1/chat/completions"
SETTING = "gateway.max_body_bytes"


def chat_body(size: int) -> bytes:
    """A valid chat request of exactly ``size`` bytes."""
    head, tail = b'{"model":"auto","messages":[{"role":"user","content":"', b'"}]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    """The real gateway with a small body limit."""
    return await start_gateway(max_body_bytes=LIMIT, body_timeout_s=1.0)


def assert_too_large(status: int, payload: bytes) -> None:
    assert status == 413, payload[:300]
    error = orjson.loads(payload)["error"]
    assert error["code"] == "request_too_large"
    assert SETTING in error["message"]


def exchange(port: int, head: bytes, chunks: Iterable[bytes]) -> http.client.HTTPResponse:
    """Send ``head`` and every chunk, then (like urllib) read one response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head)
    for chunk in chunks:
        sock.sendall(chunk)
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.sock = sock  # type: ignore[attr-defined]  # closed by the caller
    return response


def request_head(length: int | None, *, close: bool = False, version: str = "1.1") -> bytes:
    framing = f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    return (
        f"POST {CHAT} HTTP/{version}\r\nhost: 127.0.0.1\r\n"
        f"authorization: Bearer {TEST_KEY}\r\ncontent-type: application/json\r\n"
        f"{framing}\r\n{'connection: close' + chr(13) + chr(10) if close else ''}\r\n"
    ).encode()


def chunked(body: bytes, size: int = 65536) -> Iterable[bytes]:
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


# --- the client reads only after sending everything -------------------------------------------


@pytest.mark.parametrize("size", [LIMIT + 1, 2 * 1024 * 1024, 20 * 1024 * 1024])
async def test_urllib_reads_the_413(gateway: RunningGateway, size: int) -> None:
    """urllib sends ``Connection: close``: uvicorn alone closed at once, mid-body (EPIPE)."""

    def post() -> tuple[int, bytes]:
        request = urllib.request.Request(
            gateway.url + CHAT,
            data=chat_body(size),
            headers={"content-type": "application/json", **AUTH},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    assert_too_large(*await asyncio.to_thread(post))


@pytest.mark.parametrize(
    ("close", "version"), [(True, "1.1"), (False, "1.1"), (True, "1.0"), (False, "1.0")]
)
async def test_raw_client_reads_the_413_after_sending_everything(
    gateway: RunningGateway, close: bool, version: str
) -> None:
    body = chat_body(8 * 1024 * 1024)

    def send() -> tuple[int, bytes]:
        response = exchange(
            gateway.port, request_head(len(body), close=close, version=version), [body]
        )
        return response.status, response.read()

    assert_too_large(*await asyncio.to_thread(send))


async def test_chunked_upload_over_the_limit_reads_the_413(gateway: RunningGateway) -> None:
    body = chat_body(8 * 1024 * 1024)

    def send() -> tuple[int, bytes]:
        response = exchange(gateway.port, request_head(None, close=True), chunked(body))
        return response.status, response.read()

    status, payload = await asyncio.to_thread(send)

    assert_too_large(status, payload)
    assert b"more than the limit of 4096 bytes" in payload


async def test_httpx_streamed_upload_over_the_limit_reads_the_413(
    gateway: RunningGateway,
) -> None:
    body = chat_body(4 * 1024 * 1024)

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    async with httpx.AsyncClient(headers={**AUTH, "connection": "close"}, timeout=30) as http:
        response = await http.post(gateway.url + CHAT, content=stream())

    assert_too_large(response.status_code, response.content)


async def test_a_missing_key_on_a_large_body_reads_the_401(gateway: RunningGateway) -> None:
    """The same kind: answered before the body is read, for another reason."""

    def post() -> int:
        request = urllib.request.Request(
            gateway.url + CHAT, data=chat_body(20 * 1024 * 1024), headers={"x": "y"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    assert await asyncio.to_thread(post) == 401


# --- the connection after a 413 ----------------------------------------------------------------


async def test_the_connection_is_reused_after_a_drained_413(
    gateway: RunningGateway, router: FakeRouter
) -> None:
    big, small = chat_body(1024 * 1024), chat_body(200)

    def send_two() -> tuple[int, bytes, int]:
        first = exchange(gateway.port, request_head(len(big)), [big])
        payload = first.read()
        sock: socket.socket = first.sock  # type: ignore[attr-defined]
        assert first.getheader("connection") is None  # kept alive: the rest was drained
        sock.sendall(request_head(len(small)) + small)
        second = http.client.HTTPResponse(sock)
        second.begin()
        second.read()
        sock.close()
        return first.status, payload, second.status

    status, payload, second = await asyncio.to_thread(send_two)

    assert_too_large(status, payload)
    assert second == 200
    assert len(router.requests) == 1


async def test_a_stalled_body_after_the_413_is_closed_without_a_second_answer(
    gateway: RunningGateway,
) -> None:
    def stall() -> tuple[bytes, float]:
        sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=30)
        sock.sendall(request_head(LIMIT * 10) + chat_body(LIMIT * 10)[:LIMIT])
        started, received = time.monotonic(), b""
        while chunk := sock.recv(65536):  # the 413, then the close after body_timeout_s
            received += chunk
        sock.close()
        return received, time.monotonic() - started

    received, waited = await asyncio.to_thread(stall)

    assert received.startswith(b"HTTP/1.1 413 ")
    assert received.count(b"HTTP/1.1") == 1  # no 408 after the 413
    assert waited < 5


# --- beyond the drain bound ----------------------------------------------------------------------


async def test_a_length_beyond_the_bound_gets_413_with_connection_close(
    gateway: RunningGateway,
) -> None:
    length = LIMIT + DRAIN_BYTES + 1

    def send_head() -> tuple[int, str | None, bytes, bytes]:
        # A client that reads while it sends (curl) sees the answer at once.
        response = exchange(gateway.port, request_head(length), [b"x" * 65536])
        payload = response.read()
        sock: socket.socket = response.sock  # type: ignore[attr-defined]
        rest = b""
        try:
            while chunk := sock.recv(65536):
                rest += chunk
        except ConnectionResetError:
            pass
        sock.close()
        return response.status, response.getheader("connection"), payload, rest

    status, connection, payload, rest = await asyncio.to_thread(send_head)

    assert_too_large(status, payload)
    assert connection == "close"
    assert rest == b""  # then the server closed, nothing more


async def test_a_chunked_body_beyond_the_bound_is_cut_after_the_413(
    gateway: RunningGateway,
) -> None:
    """A client that sends without end while reading (as curl does) gets the 413 at once; the
    gateway drops DRAIN_BYTES more, then closes (after lingering LINGER_S)."""
    piece = b"x" * (1024 * 1024)
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"

    def send_forever() -> tuple[bytes, int, float]:
        sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=30)
        sock.sendall(request_head(None))
        received = bytearray()

        def read() -> None:
            with contextlib.suppress(OSError):
                while data := sock.recv(65536):
                    received.extend(data)

        reader = threading.Thread(target=read)
        reader.start()
        sent, started = 0, time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while time.monotonic() - started < 30:
                sock.sendall(chunk)
                sent += len(piece)
        reader.join(timeout=30)
        sock.close()
        return bytes(received), sent, time.monotonic() - started

    received, sent, took = await asyncio.to_thread(send_forever)

    assert took < 30  # cut, not read forever
    assert sent >= DRAIN_BYTES  # after the bound was drained
    status, _, rest = received.partition(b"\r\n")
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert_too_large(413, rest.partition(b"\r\n\r\n")[2])
