"""Real processes for the reliability tests, each with its own config file and a captured log.

The test's own event loop serves the fakes (upstreams, fault proxies, OTLP receiver), so
everything here is async: starting waits for a process's "listening" line (or the gateway's
/readyz) without blocking the loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx

from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from llmrouter.v1 import router_admin_service_pb2_grpc
from tests.conftest import free_port

_MODULES = {"metrics": "metrics_svc", "router": "router_svc", "gateway": "gateway"}


def scaled(normal: int, soak: int) -> int:
    """``normal`` in ``make test``, ``soak`` under ``make soak`` (LLMROUTER_SOAK=1)."""
    return soak if os.environ.get("LLMROUTER_SOAK", "") not in ("", "0") else normal


@dataclass
class Service:
    """One started process."""

    name: str
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return await asyncio.to_thread(self.process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
            raise


@dataclass
class Stack:
    """Processes started by :func:`stack`, by name, plus where their state lives."""

    tmp: Path
    env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base URL of the gateway."""
        return f"http://127.0.0.1:{self.services['gateway'].port}"

    @property
    def metrics_db(self) -> Path:
        """The metrics service's SQLite ledger."""
        return self.tmp / "metrics.sqlite3"

    def port(self, name: str) -> int:
        """The port of service ``name``."""
        return self.services[name].port

    async def start(
        self,
        name: str,
        kind: str,
        section: str,
        *,
        port: int = 0,
        env: dict[str, str] | None = None,
    ) -> Service:
        """Start service ``kind`` as ``name`` with config ``section`` (TOML, its own table);
        ``env`` adds to (or replaces) the stack's environment for this process only."""
        port = port or free_port()
        config = self.tmp / f"{name}.toml"
        config.write_text(section.replace("{port}", str(port)))
        log_path = self.tmp / f"{name}.log"
        process = _spawn(_MODULES[kind], config, {**self.env, **(env or {})}, log_path)
        service = Service(name, kind, port, process, log_path)
        self.services[name] = service
        await _wait_started(service)
        return service

    async def stop_all(self) -> None:
        """SIGTERM every process still running, the gateway first."""
        for service in sorted(self.services.values(), key=lambda s: s.kind != "gateway"):
            if service.process.poll() is None:
                await service.stop()

    def logs(self) -> dict[str, str]:
        """Every process's output by name."""
        return {name: service.log() for name, service in self.services.items()}


def _spawn(
    module: str, config: Path, env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``python -m module --config config`` with stdout and stderr into ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, "--config", str(config)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def _wait_started(service: Service, within_s: float = 30.0) -> None:
    async with asyncio.timeout(within_s):
        while True:
            if service.process.poll() is not None:
                raise AssertionError(
                    f"{service.name} exited with {service.process.returncode}:\n{service.log()}"
                )
            if service.kind == "gateway":
                if await _http_ok(f"http://127.0.0.1:{service.port}/readyz"):
                    return
            elif f"{service.kind}: listening on" in service.log():
                return
            await asyncio.sleep(0.05)


async def _http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as http:
            return (await http.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of child processes: ours minus LLMROUTER_* and OTEL_*, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMROUTER_", "OTEL_"))}
    env.update(extra or {})
    return env


@asynccontextmanager
async def stack(tmp: Path, env: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    """A Stack whose processes are all stopped on exit."""
    started = Stack(tmp, base_env(env))
    try:
        yield started
    finally:
        await started.stop_all()


# Config sections -----------------------------------------------------------------------------


def metrics_section(tmp: Path, extra: str = "") -> str:
    """``[metrics]`` on ``{port}`` over a SQLite ledger in ``tmp``."""
    return f"""[metrics]
port = {{port}}
database_url = "sqlite+aiosqlite:///{tmp / "metrics.sqlite3"}"
prometheus_port = 0
{extra}
"""


def router_section(
    tmp: Path,
    name: str,
    metrics_port: int,
    body: str,
    *,
    drain_delay_s: float = 0.0,
    flush_interval_ms: float = 50,
) -> str:
    """``[router]`` on ``{port}``, shipping usage to ``metrics_port``; ``body`` adds keys and
    tables (providers, models...), which must come after the scalar keys."""
    return f"""[router]
port = {{port}}
metrics_address = "127.0.0.1:{metrics_port}"
outbox_path = "{tmp / f"{name}-outbox.sqlite3"}"
state_path = "{tmp / f"{name}-state.json"}"
outbox_flush_interval_ms = {flush_interval_ms}
prometheus_port = 0
allowed_private_hosts = ["127.0.0.1"]
drain_delay_s = {drain_delay_s}
{body}
"""


def gateway_section(router_ports: Iterable[int], metrics_port: int, extra: str = "") -> str:
    """``[gateway]`` on ``{port}`` over the given routers and metrics service."""
    routers = ", ".join(f'"127.0.0.1:{p}"' for p in router_ports)
    return f"""[gateway]
port = {{port}}
router_addresses = [{routers}]
metrics_address = "127.0.0.1:{metrics_port}"
{extra}
"""


def openai_models(provider: str, base_url: str, names: Iterable[str], api_key_env: str = "") -> str:
    """A provider table (its key in ``api_key_env``) and one model per name, all on
    ``base_url``."""
    models = "".join(
        f'[[router.models]]\nname = "{n}"\nprovider = "{provider}"\n'
        "input_price_per_million = 1.0\noutput_price_per_million = 2.0\n"
        for n in names
    )
    return (
        f'[[router.providers]]\nname = "{provider}"\nkind = "openai"\n'
        f'base_url = "{base_url}/v1"\napi_key_env = "{api_key_env}"\n{models}'
    )


# Looking inside ------------------------------------------------------------------------------


def usage_rows(db: Path) -> list[tuple[str, str, int]]:
    """(id, status, completion tokens) of every row of the ledger."""
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT id, status, completion_tokens FROM usage_records"))


async def wait_usage(db: Path, count: int, within_s: float = 30.0) -> list[tuple[str, str, int]]:
    """The ledger's rows once it holds at least ``count`` (or whatever it holds at the end)."""
    rows: list[tuple[str, str, int]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        try:
            rows = await asyncio.to_thread(usage_rows, db)
        except sqlite3.OperationalError:  # the table does not exist yet
            rows = []
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.1)
    return rows


async def model_health(port: int) -> dict[str, admin_pb.ModelHealth]:
    """ListModelHealth of the router on ``port``, by model."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
        reply = await stub.ListModelHealth(admin_pb.ListModelHealthRequest(), timeout=5)
    return {m.model: m for m in reply.models}
