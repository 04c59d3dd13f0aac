"""What every llmrouter process does the same way: start a gRPC server with health and
reflection, run until SIGTERM, shut down gracefully, and turn start-up failures into one line.

Graceful shutdown drains in two steps: health turns NOT_SERVING at once while calls are still
served for ``drain_delay_s`` (so clients' load balancers, which watch health, move new calls to
other replicas), then the server refuses new calls and gives in-flight ones ``grace`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from llmrouter.access import Authorizer
from llmrouter.config import ENV_PREFIX, ConfigError
from llmrouter.guard import GuardedServer
from llmrouter.reflection import add_reflection
from llmrouter.telemetry import traced_handler, tracing_enabled

__all__ = [
    "GC_THRESHOLDS",
    "SERVER_LIMIT_OPTIONS",
    "GrpcServer",
    "StartupError",
    "abort",
    "bind_failure",
    "check_bindable",
    "connection_age_options",
    "ensure_open_files",
    "listen_error",
    "message_size_options",
    "port_hint",
    "run_main",
    "start_grpc_server",
    "tune_gc",
]

# Bounds of every gRPC server (gRPC's own defaults are unlimited; ``options`` may override):
# connections at once (more are closed before the HTTP/2 handshake), calls at once on one
# connection (a client queues the rest), and connections without a call for 10 minutes get a
# GOAWAY (clients reconnect on their next call). Metadata keeps gRPC's bounds (8 KiB soft,
# 16 KiB hard: grpc.max_metadata_size, grpc.absolute_max_metadata_size).
_MAX_GRPC_CONNECTIONS = 1000
SERVER_LIMIT_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_allowed_incoming_connections", _MAX_GRPC_CONNECTIONS),
    ("grpc.max_concurrent_streams", 1000),
    ("grpc.max_connection_idle_ms", 10 * 60 * 1000),
)

# Descriptors a process needs beside its client connections: listening sockets, upstream
# pools, the database, log files, the event loop's own.
_FILE_MARGIN = 512


def ensure_open_files(connections: int, name: str) -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` so ``connections`` (plus a margin) fit.

    The soft limit is often 1024 while the hard limit is far higher: without this, a server
    whose connection cap is 1000 would fail with EMFILE (accept errors, failed upstream
    connects) before the cap is reached. Returns the soft limit in force; when the hard limit
    is too low, prints one warning line naming it (``name`` is the process's name).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + _FILE_MARGIN
    unlimited = resource.RLIM_INFINITY
    if soft != unlimited and soft < wanted:
        target = wanted if hard == unlimited else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft != unlimited and soft < wanted:
        print(
            f"{name}: warning: the open-file limit is {soft} (hard limit {hard}), below the "
            f"{wanted} that {connections} connections need; raise it (ulimit -n) or lower "
            "the connection cap",
            file=sys.stderr,
        )
    return int(soft)


# grpcio-health-checking exposes its asyncio servicer as ``health.aio`` without type hints.
HealthServicer: Any = health.aio.HealthServicer  # type: ignore[attr-defined]


class StartupError(RuntimeError):
    """A process cannot start (port in use, unreachable database...); the message says why."""


@dataclass(slots=True)
class GrpcServer:
    """A started ``grpc.aio`` server, its bound port and its health servicer."""

    server: grpc.aio.Server
    port: int
    health: Any  # grpc_health.v1.health.aio.HealthServicer
    service_names: tuple[str, ...]

    async def stop(self, grace: float, drain_delay_s: float = 0.0) -> None:
        """Report NOT_SERVING, keep serving for ``drain_delay_s``, then stop accepting calls and
        give in-flight calls ``grace`` seconds."""
        await self.health.enter_graceful_shutdown()
        if drain_delay_s > 0:
            await asyncio.sleep(drain_delay_s)
        await self.server.stop(grace)


def message_size_options(
    max_receive_bytes: int, max_send_bytes: int | None = None
) -> list[tuple[str, int]]:
    """Server options that cap incoming (and, when given, outgoing) messages explicitly; a
    larger message ends the call with RESOURCE_EXHAUSTED and no ErrorInfo. (gRPC's defaults:
    4 MiB in, unlimited out.)"""
    options = [("grpc.max_receive_message_length", max_receive_bytes)]
    if max_send_bytes is not None:
        options.append(("grpc.max_send_message_length", max_send_bytes))
    return options


def connection_age_options(max_age_s: float) -> list[tuple[str, int]]:
    """Server options sending each connection a GOAWAY after ``max_age_s`` seconds (gRPC adds
    +/-10 % jitter; gRFC A9), none for 0. The grace stays gRPC's default, unlimited: calls in
    flight finish on the old connection. Clients reconnect and resolve the name again, which
    is how DNS-based round robin learns of servers added since (grpc/grpc#12295)."""
    if max_age_s <= 0:
        return []
    return [("grpc.max_connection_age_ms", max(1, round(max_age_s * 1000)))]


async def start_grpc_server(
    address: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    *,
    interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
    options: Sequence[tuple[str, int | str]] = (),
    credentials: grpc.ServerCredentials | None = None,
    authorizer: Authorizer | None = None,
    port_setting: str = "",
) -> GrpcServer:
    """Bind ``address`` (port 0 picks a free one), register services, health and reflection.

    Every method handler is guarded (:func:`llmrouter.guard.guard`: corrupt messages get
    INVALID_ARGUMENT, crashes INTERNAL without details) and, when tracing, runs in a SERVER
    span (:func:`llmrouter.telemetry.traced_handler`), inside ``interceptors``.

    ``credentials`` serves TLS (see :func:`llmrouter.security.server_credentials`);
    ``authorizer`` decides who may call each method (health stays open; reflection, v1 and
    v1alpha, needs any accepted credential); None lets every caller in.

    A busy port is a :class:`StartupError` naming ``port_setting``, the config key that chose
    the port (``router.port``), and its environment variable (see :func:`listen_error`).
    """
    host, port_number = _split_address(address)
    check_bindable(host, port_number, port_setting)
    ensure_open_files(_MAX_GRPC_CONNECTIONS, "grpc")
    # SO_REUSEPORT (gRPC's default) would let a second process silently share the port.
    server = grpc.aio.server(
        interceptors=list(interceptors) or None,
        # gRPC takes the first of repeated options: ``options`` override the limits.
        options=[("grpc.so_reuseport", 0), *options, *SERVER_LIMIT_OPTIONS],
    )
    guarded: Any = GuardedServer(
        server,
        traced_handler if tracing_enabled() else None,
        authorizer.check_for if authorizer is not None else None,
    )
    register(guarded)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, guarded)
    # Reflection (v1 and v1alpha), registered through the guard so that it is checked too.
    add_reflection(guarded, (*service_names, health.SERVICE_NAME))
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:
        port = 0
    if port == 0 and port_number != 0:
        raise listen_error(address, "address already in use or invalid", port_setting)
    await server.start()
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return GrpcServer(server, port, health_servicer, tuple(service_names))


def _split_address(address: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) as its host and port; the port must be a number."""
    host, _, port_text = address.rpartition(":")
    try:
        return host.strip("[]"), int(port_text)
    except ValueError:
        raise StartupError(f"cannot listen on {address}: port must be a number") from None


def port_hint(setting: str, *, zero_turns_off: bool = False) -> str:
    """How to choose another port than the one config key ``setting`` (``router.port``) chose:
    ``choose another port with router.port in the config file or LLMROUTER_ROUTER_PORT``, plus
    ``, or 0 to turn it off`` for a port that is optional (``zero_turns_off``)."""
    variable = ENV_PREFIX + setting.replace(".", "_").upper()
    off = ", or 0 to turn it off" if zero_turns_off else ""
    return f"choose another port with {setting} in the config file or {variable}{off}"


def listen_error(
    address: str, reason: str, setting: str = "", *, zero_turns_off: bool = False
) -> StartupError:
    """The one-line start-up error for an ``address`` (``host:port``) that cannot be bound;
    with ``setting``, the dotted config key that chose the port, it says how to choose another
    (:func:`port_hint`): ``cannot listen on 127.0.0.1:50051: address already in use (choose
    another port with router.port in the config file or LLMROUTER_ROUTER_PORT)``."""
    hint = f" ({port_hint(setting, zero_turns_off=zero_turns_off)})" if setting else ""
    return StartupError(f"cannot listen on {address}: {reason}{hint}")


def check_bindable(
    host: str, port: int, setting: str = "", *, zero_turns_off: bool = False
) -> None:
    """Raise :func:`listen_error`'s :class:`StartupError` when ``host:port`` cannot be bound
    now (a live listener has it; TIME_WAIT leftovers do not count); port 0 always passes.

    Used before gRPC binds (whose own failure is a core log line without the port) and by
    ``llmrouter serve all`` to check every port before it starts anything.
    """
    if port == 0:
        return
    host = host or "0.0.0.0"
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise listen_error(address, exc.strerror or str(exc)) from None
    with socket.socket(family[0][0], socket.SOCK_STREAM) as probe:
        # Like gRPC, ignore TIME_WAIT leftovers of a previous run; a live listener still fails.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(family[0][4])
        except OSError as exc:
            raise listen_error(
                address, bind_failure(exc), setting, zero_turns_off=zero_turns_off
            ) from None


def bind_failure(exc: OSError) -> str:
    """Why ``bind`` failed, in the words start-up errors use (``address already in use``)."""
    return {
        errno.EADDRINUSE: "address already in use",
        errno.EADDRNOTAVAIL: "address not available",
        errno.EACCES: "permission denied",
    }.get(exc.errno or 0, (exc.strerror or str(exc)).lower())


async def abort(context: grpc.aio.ServicerContext[Any, Any], status: grpc.Status) -> NoReturn:
    """End the call with a rich ``google.rpc.Status`` (details travel in trailing metadata)."""
    await context.abort_with_status(status)  # type: ignore[attr-defined]
    raise AssertionError("abort_with_status returned")  # pragma: no cover


GC_THRESHOLDS = (10_000, 20, 10)
"""The collector's thresholds in every process (CPython's: 700, 10, 10): a stream relays
dozens of chunks, each a handful of short-lived containers, and with 1,000 streams at once the
default collected the young generations hundreds of times a second (``bench/streams.py``: the
collector took a fifth to a quarter of the gateway's and router's CPU, a full collection of
the router ~0.2 s)."""


def tune_gc() -> None:
    """Set :data:`GC_THRESHOLDS` and move everything alive now (modules, classes, functions:
    the start-up heap) to the permanent generation, which collections never traverse again
    (``gc.freeze``); call once, after the imports and before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_main(
    name: str, serve: Callable[[asyncio.Event], Awaitable[None]], *, use_uvloop: bool = True
) -> int:
    """Run ``serve(stop)`` until it returns; SIGTERM and SIGINT set ``stop``.

    Configuration and start-up errors print one line (``<name>: <message>``) and exit 2.
    """

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        tune_gc()
        await serve(stop)

    if os.environ.get("LLMROUTER_EVENT_LOOP", "").lower() == "asyncio":
        use_uvloop = False
    try:
        if use_uvloop:
            try:
                import uvloop
            except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
                asyncio.run(runner())
            else:
                uvloop.run(runner())
        else:
            asyncio.run(runner())
    except (ConfigError, StartupError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
