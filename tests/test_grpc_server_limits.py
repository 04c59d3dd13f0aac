"""Every gRPC server started by llmrouter.serving bounds its connections and the calls on each
(SERVER_LIMIT_OPTIONS), seen from raw TCP clients: the HTTP/2 SETTINGS the server sends, and
a connection beyond the cap closed before any handshake."""

from __future__ import annotations

import asyncio
import resource
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from llmrouter.serving import GrpcServer, start_grpc_server

MAX_CONNECTIONS = 1000
MAX_CONCURRENT_STREAMS = 1000
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3  # RFC 9113, 6.5.2


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    running = await start_grpc_server("127.0.0.1:0", lambda _: None, [])
    yield running
    await running.stop(0)


def settings_of(frame: bytes) -> dict[int, int]:
    """The parameters of an HTTP/2 SETTINGS frame (RFC 9113, 6.5.1)."""
    length, kind = int.from_bytes(frame[:3], "big"), frame[3]
    assert kind == 0x4, f"not a SETTINGS frame: {frame[:9]!r}"
    payload = frame[9 : 9 + length]
    return dict(struct.unpack(">HI", payload[i : i + 6]) for i in range(0, len(payload), 6))


async def first_bytes(port: int) -> bytes:
    """What the server sends first on a new connection (b"" when it closes it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(reader.read(64), 5)
    finally:
        writer.close()


async def test_server_limits_concurrent_calls_per_connection(server: GrpcServer) -> None:
    settings = settings_of(await first_bytes(server.port))
    assert settings[SETTINGS_MAX_CONCURRENT_STREAMS] == MAX_CONCURRENT_STREAMS


async def test_connections_beyond_the_cap_are_closed(server: GrpcServer) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * MAX_CONNECTIONS + 200  # both ends live in this process
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    held: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS):
            held.append(socket.create_connection(("127.0.0.1", server.port)))
        await asyncio.sleep(0.5)  # let the server accept them all
        assert await first_bytes(server.port) == b""
        held.pop().close()
        await asyncio.sleep(0.2)
        assert await first_bytes(server.port) != b""  # a slot is free again
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
