"""The gateway process: the app of :mod:`gateway.routes` served by uvicorn until a stop.

``llmrouter-gateway`` / ``python -m gateway`` run :func:`main`; tests use :func:`start`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import uvicorn

from gateway.config import GatewayConfig, load_config
from gateway.limits import ConnectionLimits, protocol_class
from gateway.routes import AppOptions, create_app
from llmrouter.serving import (
    StartupError,
    bind_failure,
    ensure_open_files,
    listen_error,
    run_main,
)
from llmrouter.telemetry import configure_tracing

__all__ = ["AUTH_OFF", "AppOptions", "RunningGateway", "create_app", "main", "serve", "start"]

AUTH_OFF = "auth: OFF (local run; set gateway.auth_enabled=true and keys for shared use)"


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling (run_main owns the signals), reporting start."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signal handlers alone."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then report it."""
        await super().startup(sockets)
        if self.started:
            self._on_started()


async def serve(
    config: GatewayConfig,
    stop: asyncio.Event,
    *,
    ready: Callable[[int], object] | None = None,
    options: AppOptions | None = None,
) -> None:
    """Serve HTTP until ``stop`` is set, then finish in-flight requests (``shutdown_grace_s``).

    ``ready`` is called with the bound port once connections are accepted.
    """
    tracing = configure_tracing("llmrouter-gateway")
    app = create_app(config, options)  # first: a config error must not leave a socket bound
    sock = _bind(config.host, config.port, "gateway.port")
    port = int(sock.getsockname()[1])
    ensure_open_files(config.max_connections, "gateway")

    def started() -> None:
        print(
            f"gateway: listening on http://{_show_host(config.host)}:{port} "
            f"(router at {', '.join(config.router_addresses)})",
            file=sys.stderr,
        )
        if not config.auth_enabled:
            print(f"gateway: {AUTH_OFF}", file=sys.stderr)
        if app.state.rate_limits:
            print(f"gateway: per-key rate limits counted {app.state.rate_limits}", file=sys.stderr)
        if ready is not None:
            ready(port)

    server = _Server(
        uvicorn.Config(
            app,
            loop="none",  # we already run inside the loop run_main chose (uvloop)
            # httptools, plus header size, header/body read timeouts and a connection cap.
            http=protocol_class(
                ConnectionLimits(
                    max_header_bytes=config.max_header_bytes,
                    header_timeout_s=config.header_timeout_s,
                    body_timeout_s=config.body_timeout_s,
                    body_deadline_s=config.body_deadline_s,
                    max_connections=config.max_connections,
                )
            ),
            ws="none",  # no WebSocket routes; an upgrade must not escape the limits above
            # uvicorn types it int, but hands it to loop.call_later (float seconds).
            timeout_keep_alive=cast(int, config.keepalive_timeout_s),
            # No X-Forwarded-* rewriting (a wrapper per request) and no "server: uvicorn".
            proxy_headers=False,
            server_header=False,
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=math.ceil(config.shutdown_grace_s),
        ),
        started,
    )

    async def stop_when_asked() -> None:
        await stop.wait()
        server.should_exit = True  # uvicorn notices within 0.1 s and shuts down gracefully

    watcher = asyncio.create_task(stop_when_asked())
    try:
        await server.serve(sockets=[sock])
    except SystemExit:  # uvicorn's answer to a failed lifespan startup
        reason = getattr(app.state, "startup_error", None)
        raise (reason or StartupError("application startup failed")) from None
    finally:
        watcher.cancel()
        sock.close()
        tracing.shutdown()


def _bind(host: str, port: int, setting: str = "") -> socket.socket:
    """Bind the listening socket here, so a busy port fails start-up with one clear line
    naming ``setting``, the config key of the port (:func:`llmrouter.serving.listen_error`)."""
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise listen_error(where, exc.strerror or str(exc)) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise listen_error(where, bind_failure(exc), setting) from None
    return sock


def _show_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass
class RunningGateway:
    """A gateway started by :func:`start`; ``port`` is the bound port."""

    port: int
    host: str
    _stop: asyncio.Event
    _task: asyncio.Task[None]

    @property
    def url(self) -> str:
        """Base URL of the gateway, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{_show_host(self.host)}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting requests, let in-flight ones finish, and wait until it is done."""
        self._stop.set()
        await self._task


async def start(config: GatewayConfig, options: AppOptions | None = None) -> RunningGateway:
    """Start :func:`serve` in the background (port 0 picks a free port); return once ready."""
    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(config, stop, ready=ready.set_result, options=options))
    first: set[asyncio.Future[Any]] = {ready, task}
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        await task  # re-raises why it could not start
        raise StartupError("stopped before it was ready")
    return RunningGateway(port=ready.result(), host=config.host, _stop=stop, _task=task)


def main(argv: Sequence[str] | None = None) -> int:
    """``llmrouter-gateway [--config PATH] [--port N]``: run until SIGTERM."""
    parser = argparse.ArgumentParser(prog="llmrouter-gateway", description=__doc__)
    parser.add_argument("--config", metavar="PATH", help="TOML file (default: $LLMROUTER_CONFIG)")
    parser.add_argument("--port", type=int, help="HTTP port (overrides the config)")
    args = parser.parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        config = load_config(args.config)
        if args.port is not None:
            config = dataclasses.replace(config, port=args.port)
        await serve(config, stop)

    return run_main("gateway", run)
