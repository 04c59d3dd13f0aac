"""Process entry point of the metrics service: open the ledger, serve gRPC until told to stop."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from llmrouter.access import Authorizer, require_credentials
from llmrouter.prometheus import MetricsEndpoint, serve_metrics
from llmrouter.security import server_credentials
from llmrouter.serving import (
    GrpcServer,
    StartupError,
    message_size_options,
    run_main,
    start_grpc_server,
)
from llmrouter.telemetry import configure_tracing
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.config import SCOPES, SECTION, MetricsConfig, load_config
from metrics_svc.costs import ReferencePrice
from metrics_svc.errors import StorageError
from metrics_svc.repository import Repository, safe_url
from metrics_svc.servicer import Clock, MetricsServicer, utc_now
from metrics_svc.telemetry import LedgerMetrics

__all__ = ["SERVICE_NAME", "RunningMetrics", "main", "migrate", "serve", "start"]

#: Full name of the gRPC service, as health checks and reflection report it.
SERVICE_NAME = "llmrouter.v1.MetricsService"


@dataclass(slots=True)
class RunningMetrics:
    """A started metrics service: its bound port, stoppable once."""

    port: int
    grpc_server: GrpcServer
    repository: Repository
    shutdown_grace_s: float
    prometheus: MetricsEndpoint | None = None

    async def stop(self, drain_delay_s: float = 0.0) -> None:
        """Stop serving (after ``drain_delay_s`` of NOT_SERVING; in-flight calls get the grace
        period), then close the database."""
        try:
            await self.grpc_server.stop(self.shutdown_grace_s, drain_delay_s)
        finally:
            await self.repository.close()
            if self.prometheus is not None:
                self.prometheus.stop()


async def start(config: MetricsConfig, *, clock: Clock = utc_now) -> RunningMetrics:
    """Open the ledger and start serving on ``config.host:config.port`` (0 picks a port).

    ``clock`` is "now" for records without a time and queries without an end.

    Raises :class:`StartupError` with a one-line reason when the database or port is unusable,
    ConfigError when ``config.host`` reaches beyond loopback without credentials or a token
    variable or certificate file is missing.
    """
    # Credentials first: a missing token or certificate must fail before anything is opened.
    authorizer = Authorizer.from_config(
        SCOPES,
        SECTION,
        auth_token_envs=config.auth_token_envs,
        auth_tokens=config.auth_tokens,
        client_certs=config.client_certs,
    )
    require_credentials(SECTION, config.host, tokens=authorizer is not None, tls=config.tls)
    credentials = server_credentials(config.tls, SECTION)
    try:
        repository = await Repository.create(config.database_url)
    except StorageError as exc:
        raise StartupError(f"{exc} (database: {safe_url(config.database_url)})") from None
    servicer = MetricsServicer(
        repository,
        ReferencePrice(
            model=config.reference_model,
            input_per_million=config.reference_input_price_per_million,
            output_per_million=config.reference_output_price_per_million,
            cache_read_per_million=_rate(config.reference_cache_read_price_per_million),
            cache_write_per_million=_rate(config.reference_cache_write_price_per_million),
        ),
        clock=clock,
        metrics=LedgerMetrics(),
    )

    def register(server: grpc.aio.Server) -> None:
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, server)

    address = _address(config.host, config.port)
    try:
        grpc_server = await start_grpc_server(
            address,
            register,
            [SERVICE_NAME],
            options=message_size_options(config.max_receive_message_bytes),
            credentials=credentials,
            authorizer=authorizer,
            port_setting="metrics.port",
        )
    except BaseException:
        await repository.close()
        raise
    try:
        assert servicer.metrics is not None
        prometheus = (
            serve_metrics(
                config.host,
                config.prometheus_port,
                servicer.metrics.registry,
                setting="metrics.prometheus_port",
            )
            if config.prometheus_port
            else None
        )
    except BaseException:
        await grpc_server.stop(0)
        await repository.close()
        raise
    return RunningMetrics(
        grpc_server.port, grpc_server, repository, config.shutdown_grace_s, prometheus
    )


async def migrate(config: MetricsConfig) -> str:
    """Bring the ledger's schema to the newest revision without serving; returns it.

    Raises :class:`StartupError` with a one-line reason when the database is unusable.
    """
    try:
        repository = await Repository.create(config.database_url)
    except StorageError as exc:
        raise StartupError(f"{exc} (database: {safe_url(config.database_url)})") from None
    try:
        revision = await repository.schema_revision()
    except StorageError as exc:
        raise StartupError(f"{exc} (database: {safe_url(config.database_url)})") from None
    finally:
        await repository.close()
    if revision is None:  # pragma: no cover - create() has just migrated it
        raise StartupError("the database has no schema revision after migrating")
    return revision


async def serve(
    config: MetricsConfig,
    stop: asyncio.Event,
    *,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop`` is set; ``ready`` is called with the bound port once serving."""
    tracing = configure_tracing("llmrouter-metrics")
    running = await start(config)
    try:
        print(
            f"metrics: listening on {_address(config.host, running.port)} "
            f"(database: {safe_url(config.database_url)})",
            file=sys.stderr,
            flush=True,
        )
        if ready is not None:
            ready(running.port)
        await stop.wait()
    finally:
        await running.stop(config.drain_delay_s)
        tracing.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m metrics_svc [--config FILE] [--port N] [--migrate-only]``; the exit status."""
    parser = argparse.ArgumentParser(prog="metrics_svc", description="llmrouter usage ledger")
    parser.add_argument("--config", help="TOML config file (default: $LLMROUTER_CONFIG)")
    parser.add_argument("--port", type=int, help="override metrics.port (0 picks a free port)")
    parser.add_argument(
        "--migrate-only",
        action="store_true",
        help="migrate the database to the newest schema and exit (serving does it too)",
    )
    args = parser.parse_args(argv)

    async def run(stop: asyncio.Event) -> None:
        # Loaded inside the runner so config errors get run_main's one-line treatment.
        config = load_config(args.config)
        if args.port is not None:
            config = dataclasses.replace(config, port=args.port)
        if args.migrate_only:
            revision = await migrate(config)
            print(
                f"metrics: database at revision {revision} "
                f"(database: {safe_url(config.database_url)})",
                file=sys.stderr,
                flush=True,
            )
            return
        await serve(config, stop)

    return run_main("metrics", run)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _rate(configured: float) -> float | None:
    """A configured cache rate; -1 (the input price) is None."""
    return None if configured < 0 else configured
