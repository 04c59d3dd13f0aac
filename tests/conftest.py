"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import socket

import pytest

PG_URL = os.environ.get(
    "LLMROUTER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    """A TCP port that was free a moment ago (for child processes that must bind it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LLMROUTER_* variables leak into config tests from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("LLMROUTER_"):
            monkeypatch.delenv(name)
