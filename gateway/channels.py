"""The long-lived gRPC channels of the gateway: one to the router replicas, one to metrics.

Several router addresses share one channel whose target lists them all (``ipv4:a:p,b:p``) and
whose service config picks ``round_robin``: gRPC keeps a subchannel to each replica, sends each
call to the next ready one and skips replicas that are down. Host names among several
addresses are resolved once at start (a static list); a single address stays a ``dns:`` target,
so one name with many A records (a headless service) is spread over and re-resolved too.

Each channel can be TLS (mTLS with a client certificate) and send a bearer token on every call
(:class:`ChannelSecurity`, from the ``router_*`` and ``metrics_*`` keys of the config). Admin
RPCs get a channel of their own when ``router_admin_token_env`` names a token of its own, so
the token that may call Complete never carries the admin scope.

A call that never reached a router, or reached one that went away before answering, is retried
on another replica by gRPC itself (gRFC A6 ``retryPolicy``: UNAVAILABLE, :data:`RETRY_ATTEMPTS`
attempts, short backoff). gRPC commits a call, and stops retrying it, once response headers
arrive; the router sends them the moment it accepts an upstream answer (a stream: with its
first chunk), before it records that answer's usage, and marks every error it answers with
itself as not to be retried (negative ``grpc-retry-pushback-ms``). So a retried call was never
answered, nor billed, by the replica that went away. A stream whose replica goes away after
its headers is resumed by :mod:`gateway.resume`.

Message sizes follow the HTTP limits (:func:`size_options`): a request may be as large as the
body it came from plus :data:`FRAMING_MARGIN_BYTES`, an answer up to ``max_response_bytes``.
gRPC refuses anything larger with RESOURCE_EXHAUSTED, which :mod:`gateway.errors` turns into
413 (request) or 502 (answer), never a rate limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc

from gateway.config import GatewayConfig
from llmrouter.security import channel_factory, read_token
from llmrouter.serving import StartupError
from llmrouter.sizes import FRAMING_MARGIN_BYTES
from llmrouter.telemetry import traced_stub
from llmrouter.v1 import (
    metrics_service_pb2_grpc,
    router_admin_service_pb2_grpc,
    router_service_pb2_grpc,
)

__all__ = [
    "FRAMING_MARGIN_BYTES",
    "RETRY_ATTEMPTS",
    "SERVICE_CONFIG",
    "ChannelSecurity",
    "Upstreams",
    "open_upstreams",
    "router_target",
    "size_options",
]

# Attempts per call (the first included) while replicas go away without answering.
RETRY_ATTEMPTS = 4

SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        # Client-side health checking (gRFC A17): round robin skips a replica whose health
        # watch says NOT_SERVING, so a draining router gets no new calls.
        "healthCheckConfig": {"serviceName": ""},
        # RouterService calls only: an admin call may change state, and each replica keeps
        # its own. No retryThrottling: a killed replica fails all its in-flight calls at
        # once, which is exactly when they must be retried; the attempts bound the rest.
        "methodConfig": [
            {
                "name": [{"service": "llmrouter.v1.RouterService"}],
                "retryPolicy": {
                    "maxAttempts": RETRY_ATTEMPTS,
                    # Each backoff is random up to initial * multiplier^(n-1): the dead
                    # replica's subchannel is out of the round robin by then.
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)

_OPTIONS: Sequence[tuple[str, Any]] = (
    ("grpc.service_config", SERVICE_CONFIG),
    # The service config is ours; DNS TXT records must not replace it.
    ("grpc.service_config_disable_resolution", 1),
    # A router that was down (or not yet started: the gateway asks it for the virtual keys
    # at once) is tried again within a second, not after gRPC's backoff of up to 120 s.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
)
# /readyz asks a replica for its health itself: over the health-checked channel a NOT_SERVING
# router would only ever look unreachable.
_PROBE_OPTIONS: Sequence[tuple[str, Any]] = (
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
    ("grpc.service_config_disable_resolution", 1),
)


def size_options(config: GatewayConfig) -> tuple[tuple[str, int], ...]:
    """gRPC channel options: send at most ``max_body_bytes`` plus the framing margin, receive
    at most ``max_response_bytes`` (gRPC's defaults are unlimited and 4 MiB)."""
    return (
        ("grpc.max_send_message_length", config.max_body_bytes + FRAMING_MARGIN_BYTES),
        ("grpc.max_receive_message_length", config.max_response_bytes),
    )


def retry_options(config: GatewayConfig) -> tuple[tuple[str, int], ...]:
    """Router channel options: a call keeps what it sent for a retry up to the largest
    request (gRPC's default buffer is 256 KiB; a larger request would be committed at once
    and never retried)."""
    return (("grpc.per_rpc_retry_buffer_size", config.max_body_bytes + FRAMING_MARGIN_BYTES),)


@dataclass(frozen=True)
class ChannelSecurity:
    """How the gateway opens its channels: TLS (certificate files read once, at start) and the
    bearer token each call carries. The tokens live only inside the two openers."""

    open_router: Callable[[str], grpc.aio.Channel]
    open_router_probe: Callable[[str], grpc.aio.Channel]
    open_metrics: Callable[[str], grpc.aio.Channel]
    # RouterAdminService calls, with the admin token; None: over the router channel.
    open_router_admin: Callable[[str], grpc.aio.Channel] | None = None

    @classmethod
    def from_config(
        cls, config: GatewayConfig, environ: Mapping[str, str] | None = None
    ) -> ChannelSecurity:
        """Openers for ``config``; ConfigError when a token variable or a file is missing."""
        router_token = read_token(config.router_token_env, "gateway.router_token_env", environ)
        admin_token = read_token(
            config.router_admin_token_env, "gateway.router_admin_token_env", environ
        )
        sizes = size_options(config)
        return cls(
            open_router=channel_factory(
                config.router_tls,
                token=router_token,
                key="gateway.router_tls",
                options=(*_OPTIONS, *sizes, *retry_options(config)),
            ),
            open_router_probe=channel_factory(
                config.router_tls,
                token=router_token,
                key="gateway.router_tls",
                options=(*_PROBE_OPTIONS, *sizes),
            ),
            open_metrics=channel_factory(
                config.metrics_tls,
                token=read_token(config.metrics_token_env, "gateway.metrics_token_env", environ),
                key="gateway.metrics_tls",
                options=sizes,
            ),
            open_router_admin=channel_factory(
                config.router_tls,
                token=admin_token,
                key="gateway.router_tls",
                options=(*_OPTIONS, *sizes),
            )
            if admin_token and admin_token != router_token
            else None,
        )


@dataclass(frozen=True)
class Upstreams:
    """Stubs over the gateway's channels."""

    router: router_service_pb2_grpc.RouterServiceStub
    # RouterAdminService, served on the router's port: same channel, same round robin.
    admin: router_admin_service_pb2_grpc.RouterAdminServiceStub
    metrics: metrics_service_pb2_grpc.MetricsServiceStub
    router_health: Any  # grpc_health.v1 HealthStub (untyped)
    metrics_health: Any
    # ListApiKeyDigests and ListBudgets, over a router channel of their own (the gateway's
    # inference token; untraced: the keys are asked four times a second).
    keys: router_admin_service_pb2_grpc.RouterAdminServiceStub | None = None
    # The channel requests go over (None when borrowed): /readyz waits for it to connect.
    router_channel: grpc.aio.Channel | None = None


@asynccontextmanager
async def open_upstreams(
    router_addresses: Sequence[str],
    metrics_address: str,
    *,
    router_channel: grpc.aio.Channel | None = None,
    metrics_channel: grpc.aio.Channel | None = None,
    security: ChannelSecurity | None = None,
) -> AsyncIterator[Upstreams]:
    """Open the channels (given ones are borrowed, not closed) and yield stubs over them."""
    security = security or ChannelSecurity.from_config(GatewayConfig(), {})
    owned: list[grpc.aio.Channel] = []
    try:
        probe_channel = admin_channel = keys_channel = router_channel
        if router_channel is None:
            target = await router_target(router_addresses)
            router_channel = admin_channel = security.open_router(target)
            probe_channel = security.open_router_probe(target)
            # The virtual keys are asked for at start and four times a second, on a channel of
            # their own: a router not up yet when the gateway starts must not leave the
            # requests' channel in reconnect backoff (its first calls would fail fast, 503).
            keys_channel = security.open_router(target)
            owned += [router_channel, probe_channel, keys_channel]
            if security.open_router_admin is not None:
                admin_channel = security.open_router_admin(target)
                owned.append(admin_channel)
        if metrics_channel is None:
            metrics_channel = security.open_metrics(metrics_address)
            owned.append(metrics_channel)
        yield Upstreams(
            router=traced_stub(router_service_pb2_grpc.RouterServiceStub(router_channel)),
            admin=traced_stub(router_admin_service_pb2_grpc.RouterAdminServiceStub(admin_channel)),
            metrics=traced_stub(metrics_service_pb2_grpc.MetricsServiceStub(metrics_channel)),
            router_health=health_pb2_grpc.HealthStub(probe_channel),
            metrics_health=health_pb2_grpc.HealthStub(metrics_channel),
            keys=router_admin_service_pb2_grpc.RouterAdminServiceStub(keys_channel),
            router_channel=None if probe_channel is router_channel else router_channel,
        )
    finally:
        for channel in owned:
            await channel.close(None)


async def router_target(addresses: Sequence[str]) -> str:
    """The gRPC target for ``addresses``: the address itself, or a static ``ipv4:``/``ipv6:``
    list of all of them (host names resolved now)."""
    if len(addresses) == 1:
        return f"dns:///{addresses[0]}"
    parsed = [_split(a) for a in addresses]
    family = socket.AF_INET6 if any(_is_ipv6(h) for h, _ in parsed) else socket.AF_INET
    resolved = [(await _resolve(host, family), port) for host, port in parsed]
    if family == socket.AF_INET6:
        return "ipv6:" + ",".join(f"[{host}]:{port}" for host, port in resolved)
    return "ipv4:" + ",".join(f"{host}:{port}" for host, port in resolved)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


async def _resolve(host: str, family: socket.AddressFamily) -> str:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if (literal.version == 6) != (family == socket.AF_INET6):
            raise StartupError("router_addresses: cannot mix IPv4 and IPv6 addresses")
        return host
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, None, family=family, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise StartupError(f"cannot resolve router address {host}: {exc}") from None
    return str(infos[0][4][0])
