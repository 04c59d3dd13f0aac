"""Connection limits of a real gateway process, before any key check: huge unfinished headers
are refused with memory staying flat, connections that never finish their headers, stall their
body or trickle it past its deadline are closed, idle keep-alive connections are closed, and
connections beyond the cap are refused (gateway.max_header_bytes, header_timeout_s,
body_timeout_s, body_deadline_s, keepalive_timeout_s, max_connections)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
import pytest_asyncio

from .stack import Stack, gateway_section, metrics_section, router_section, stack

KEY = "sk-limits-0123456789abcdef"
HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
BODY_DEADLINE_S = 2.5
KEEPALIVE_TIMEOUT_S = 0.5
MAX_HEADER_BYTES = 32768  # the default
LIMITS = f"""header_timeout_s = {HEADER_TIMEOUT_S}
body_timeout_s = {BODY_TIMEOUT_S}
body_deadline_s = {BODY_DEADLINE_S}
keepalive_timeout_s = {KEEPALIVE_TIMEOUT_S}
max_connections = 200
"""
CAP = 8  # max_connections of the second gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def limited(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Metrics, a simulated router, gateway "gateway" with short timeouts and gateway "capped"
    with ``max_connections = CAP`` and the default timeouts."""
    tmp_path = tmp_path_factory.mktemp("limits")
    async with stack(tmp_path, {"LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}"}) as s:
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
        router = await s.start("router", "router", router_section(tmp_path, "r", metrics.port, ""))
        await s.start("gateway", "gateway", gateway_section([router.port], metrics.port, LIMITS))
        capped = f"max_connections = {CAP}"
        await s.start("capped", "gateway", gateway_section([router.port], metrics.port, capped))
        yield s
        for service in s.services.values():
            assert service.process.poll() is None, f"{service.name} died:\n{service.log()}"
        for name, log in s.logs().items():
            assert "Traceback" not in log, f"{name}:\n{log}"


def status_kb(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field in kB (VmRSS, VmHWM...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def open_sockets(pid: int) -> int:
    """How many sockets process ``pid`` holds."""
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


async def connect(
    s: Stack, name: str = "gateway"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", s.port(name))


async def read_all(reader: asyncio.StreamReader, within_s: float) -> bytes:
    """Everything until the gateway closes the connection (a reset counts as a close)."""
    try:
        return await asyncio.wait_for(reader.read(), within_s)
    except ConnectionError:  # reset, or a write already failed on it
        return b""


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP/1.1 answer."""
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> dict[str, object]:
    return orjson.loads(answer.partition(b"\r\n\r\n")[2])  # type: ignore[no-any-return]


async def send_huge_header(s: Stack, total: int) -> bytes:
    """Send a request whose one header never ends, up to ``total`` bytes or until the gateway
    closes the connection; what the gateway answered."""
    reader, writer = await connect(s)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-junk: ")
    chunk = b"a" * (1024 * 1024)
    sent = 0
    try:
        while sent < total:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except ConnectionError:
        pass
    try:
        return await read_all(reader, 10)
    finally:
        writer.close()


async def test_huge_unfinished_headers_are_refused_with_memory_bounded(limited: Stack) -> None:
    pid = limited.services["gateway"].process.pid
    async with asyncio.timeout(30):
        answers = await asyncio.gather(
            *(send_huge_header(limited, 64 * 1024 * 1024) for _ in range(8))
        )
    # Refused with 431 (a client still sending when the gateway gave up may see a reset).
    assert all(a == b"" or status_of(a) == 431 for a in answers), [a[:40] for a in answers]
    assert any(answers)
    # The peak resident size of the process, start-up included (about 70 MB).
    assert status_kb(pid, "VmHWM") < 200 * 1024


async def test_headers_over_the_limit_get_431_and_under_it_work(limited: Stack) -> None:
    reader, writer = await connect(limited)
    junk = "a" * (MAX_HEADER_BYTES + 1)
    writer.write(f"GET /healthz HTTP/1.1\r\nhost: x\r\nx-junk: {junk}\r\n\r\n".encode())
    answer = await read_all(reader, 5)
    writer.close()
    assert status_of(answer) == 431
    error = body_of(answer)["error"]
    assert isinstance(error, dict)
    assert error["code"] == "request_header_fields_too_large"
    assert str(MAX_HEADER_BYTES) in error["message"]

    # Just under the limit: an ordinary answer, before and after the refusal.
    padding = {"x-pad": "a" * (MAX_HEADER_BYTES - 1024)}
    async with httpx.AsyncClient(base_url=limited.url, timeout=10) as http:
        reply = await http.get("/v1/models", headers={"authorization": f"Bearer {KEY}", **padding})
    assert reply.status_code == 200


async def test_unfinished_headers_are_closed_after_header_timeout(limited: Stack) -> None:
    count = 50
    started = time.monotonic()
    connections = [await connect(limited) for _ in range(count)]
    partial = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
    for _, writer in connections[: count // 2]:
        writer.write(partial)  # half send a beginning, half send nothing at all

    async def slowloris() -> bytes:
        reader, writer = await connect(limited)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\n")
            for n in range(20):  # a header line every 0.2 s: never idle, never done
                await asyncio.sleep(0.2)
                writer.write(f"x-{n}: y\r\n".encode())
                await writer.drain()
        except ConnectionError:
            pass
        return await read_all(reader, 5)

    drip = asyncio.create_task(slowloris())
    answers = [await read_all(reader, 5) for reader, _ in connections]
    closed_after = time.monotonic() - started
    for _, writer in connections:
        writer.close()
    assert closed_after < HEADER_TIMEOUT_S + 2.0
    assert all(status_of(a) == 408 for a in answers[: count // 2]), answers[:3]
    assert answers[count // 2 :] == [b""] * (count - count // 2)  # nothing asked, nothing said
    dripped = await drip
    assert dripped == b"" or status_of(dripped) == 408


async def test_stalled_body_is_closed_after_body_timeout(limited: Stack) -> None:
    reader, writer = await connect(limited)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
        + f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\n".encode()
        + b'content-length: 100\r\n\r\n{"model": '
    )
    started = time.monotonic()
    answer = await read_all(reader, 10)
    writer.close()
    assert BODY_TIMEOUT_S - 0.2 < time.monotonic() - started < BODY_TIMEOUT_S + 2.0
    assert status_of(answer) == 408
    error = body_of(answer)["error"]
    assert isinstance(error, dict)
    assert error["code"] == "request_timeout"


async def test_a_trickled_body_is_closed_at_its_deadline(limited: Stack) -> None:
    # A byte every 0.3 s never pauses body_timeout_s, but the body as a whole must arrive
    # within body_deadline_s (before: the connection stayed as long as the client kept on).
    reader, writer = await connect(limited)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
        + f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\n".encode()
        + b"content-length: 1000\r\n\r\n"
    )
    started = time.monotonic()
    answer = b""
    try:
        for _ in range(40):  # 12 s of trickling at most
            writer.write(b" ")
            await writer.drain()
            try:
                first = await asyncio.wait_for(reader.read(65536), 0.3)
            except TimeoutError:
                continue
            answer = first + await read_all(reader, 5)  # the gateway answered and closes
            break
    except ConnectionError:
        pass
    finally:
        writer.close()
    assert BODY_DEADLINE_S - 0.2 < time.monotonic() - started < BODY_DEADLINE_S + 2.0
    assert status_of(answer) == 408
    error = body_of(answer)["error"]
    assert isinstance(error, dict)
    assert error["code"] == "request_timeout"
    assert f"within {BODY_DEADLINE_S:g} seconds" in str(error["message"])


async def test_idle_keepalive_connection_is_closed(limited: Stack) -> None:
    reader, writer = await connect(limited)
    writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert status_of(head) == 200
    started = time.monotonic()
    rest = await read_all(reader, 5)  # the small body, then the close
    writer.close()
    assert b"HTTP/1.1" not in rest
    assert time.monotonic() - started < KEEPALIVE_TIMEOUT_S + 1.0


async def test_connections_beyond_the_cap_are_refused(limited: Stack) -> None:
    pid = limited.services["capped"].process.pid
    before = open_sockets(pid)
    held = []
    for _ in range(CAP):  # each answered once, so the gateway has accepted it
        reader, writer = await connect(limited, "capped")
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        assert status_of(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)) == 200
        held.append((reader, writer))

    refused = []
    for _ in range(20):
        reader, writer = await connect(limited, "capped")
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        refused.append(await read_all(reader, 5))
        writer.close()
    assert all(a == b"" or status_of(a) == 503 for a in refused), refused[:3]
    assert any(a for a in refused)  # at least one client read the 503
    assert b"retry-after: 1" in next(a for a in refused if a)
    assert open_sockets(pid) <= before + CAP

    # One held connection leaves: a new one is served.
    held.pop()[1].close()
    await asyncio.sleep(0.2)
    capped_url = f"http://127.0.0.1:{limited.port('capped')}"
    async with httpx.AsyncClient(base_url=capped_url, timeout=10) as http:
        assert (await http.get("/healthz")).status_code == 200
    for _, writer in held:
        writer.close()


async def test_websocket_upgrades_are_served_as_plain_http(limited: Stack) -> None:
    # With uvicorn's WebSocket protocol on, an upgrade left these limits (and got 403 here).
    reader, writer = await connect(limited)
    writer.write(
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n"
        b"sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert status_of(head) == 200
    assert "upgrade" not in limited.services["gateway"].log().lower()
