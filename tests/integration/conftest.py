"""Real processes for end-to-end tests: metrics, router and gateway as child processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port


@dataclass
class Stack:
    """Ports and processes of a started stack."""

    gateway: int
    router: int
    metrics: int
    config: Path
    router_prometheus: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway}"


def write_config(tmp_path: Path, extra: str = "", gateway_extra: str = "") -> Stack:
    """A config file for the three services on free ports, plus ``extra`` TOML."""
    stack = Stack(free_port(), free_port(), free_port(), tmp_path / "llmrouter.toml", free_port())
    stack.config.write_text(
        f"""
[gateway]
port = {stack.gateway}
router_addresses = ["127.0.0.1:{stack.router}"]
metrics_address = "127.0.0.1:{stack.metrics}"
{gateway_extra}

[metrics]
port = {stack.metrics}
database_url = "sqlite+aiosqlite:///{tmp_path / "metrics.sqlite3"}"
prometheus_port = 0

[router]
port = {stack.router}
metrics_address = "127.0.0.1:{stack.metrics}"
outbox_path = "{tmp_path / "outbox.sqlite3"}"
prometheus_port = {stack.router_prometheus}
state_path = "{tmp_path / "state.json"}"
allowed_private_hosts = ["127.0.0.1"]
drain_delay_s = 0
{extra}
"""
    )
    return stack


def run_stack(
    stack: Stack, env: dict[str, str] | None = None, logs: Path | None = None
) -> Iterator[Stack]:
    """Start metrics, router, gateway; wait for /readyz; stop them in reverse on exit.
    ``logs``: a directory each process writes its stdout and stderr to (``<name>.log``)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_")}
    base.update(env or {})
    try:
        for name, module in (
            ("metrics", "metrics_svc"),
            ("router", "router_svc"),
            ("gateway", "gateway"),
        ):
            out = open(logs / f"{name}.log", "wb") if logs is not None else None  # noqa: SIM115
            stack.processes[name] = subprocess.Popen(
                [sys.executable, "-m", module, "--config", str(stack.config)],
                env=base,
                stdout=out,
                stderr=out,
            )
            if out is not None:
                out.close()  # the child holds its own copy
        # Three Python processes starting at once: seconds on an idle machine, more than 30 on
        # a loaded CI machine (seen once).
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{stack.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            for name, proc in stack.processes.items():
                assert proc.poll() is None, f"{name} exited with {proc.returncode}"
            assert time.monotonic() < deadline, "stack not ready in 60 s"
            time.sleep(0.05)
        yield stack
    finally:
        for name in ("gateway", "router", "metrics"):
            proc = stack.processes.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


@asynccontextmanager
async def started(
    stack: Stack, env: dict[str, str], logs: Path | None = None
) -> AsyncIterator[Stack]:
    """``run_stack`` in a thread, so an in-process fake upstream keeps answering on this loop."""
    iterator = run_stack(stack, env, logs)
    running = await asyncio.to_thread(next, iterator)
    try:
        yield running
    finally:
        await asyncio.to_thread(next, iterator, None)
