"""The Prometheus endpoint bounds what a client can hold: a connection that stalls is dropped
after the timeout, and connections beyond the cap are closed at once."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from llmrouter.prometheus import MetricsEndpoint, serve_metrics

CAP = 4
TIMEOUT_S = 0.5


@pytest.fixture
def endpoint() -> Iterator[MetricsEndpoint]:
    registry = CollectorRegistry()
    Counter("llmrouter_test_total", "A counter.", registry=registry).inc()
    running = serve_metrics("127.0.0.1", 0, registry, timeout_s=TIMEOUT_S, max_connections=CAP)
    yield running
    running.stop()


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_scrape_works(endpoint: MetricsEndpoint) -> None:
    reply = httpx.get(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=5)
    assert reply.status_code == 200
    assert "llmrouter_test_total 1.0" in reply.text


def test_a_silent_connection_is_dropped_after_the_timeout(endpoint: MetricsEndpoint) -> None:
    with socket.create_connection(("127.0.0.1", endpoint.port)) as silent:
        silent.sendall(b"GET /metrics HTTP/1.1\r\n")  # and never the rest
        started = time.monotonic()
        assert closed_within(silent, 5)
        assert time.monotonic() - started < TIMEOUT_S + 1.5


def test_a_trickling_connection_is_dropped_at_its_deadline(endpoint: MetricsEndpoint) -> None:
    # One byte every TIMEOUT_S / 5: no read ever waits the timeout, but the connection as a
    # whole may not last longer than it (before: held for as long as the client kept sending).
    with socket.create_connection(("127.0.0.1", endpoint.port)) as trickle:
        started = time.monotonic()
        trickle.settimeout(TIMEOUT_S / 5)
        closed = False
        for byte in b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            try:
                trickle.sendall(bytes([byte]))
                closed = trickle.recv(1024) == b""
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
            if closed:
                break
        assert closed
        assert time.monotonic() - started < TIMEOUT_S + 1.0


def test_connections_beyond_the_cap_are_closed(endpoint: MetricsEndpoint) -> None:
    address = ("127.0.0.1", endpoint.port)
    held = [socket.create_connection(address) for _ in range(CAP)]
    try:
        time.sleep(0.1)  # accepted: every slot taken
        with socket.create_connection(address) as extra:
            assert closed_within(extra, TIMEOUT_S / 2)  # before any timeout could close it
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.1)
    assert httpx.get(f"http://{address[0]}:{address[1]}/metrics", timeout=5).status_code == 200
