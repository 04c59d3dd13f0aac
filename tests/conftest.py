"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

import pytest

# As the router process does (router_svc/__init__.py): one OpenBLAS thread, set before any
# test module imports numpy; two threads on a busy two-core machine made a 1 ms kNN query 15 ms.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

PG_URL = os.environ.get(
    "LLMROUTER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_EPHEMERAL = _ephemeral_range()
# Below the kernel's ephemeral range when it leaves room (Linux: 32768-60999), so that no
# outgoing connection (an exporter reconnecting, a client) can take a port between the moment
# it is chosen here and the moment a child process binds it.
_CHOSEN = (10000, _EPHEMERAL[0] - 1) if _EPHEMERAL[0] > 11000 else (_EPHEMERAL[1] + 1, 65535)
_rng = random.Random()


def free_port() -> int:
    """A TCP port that was free a moment ago (for child processes that must bind it)."""
    low, high = _CHOSEN
    for _ in range(200):
        port = _rng.randint(low, high)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # a crowded range: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LLMROUTER_* variables leak into config tests from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("LLMROUTER_"):
            monkeypatch.delenv(name)
