"""Who may call a gRPC service and over what: bearer tokens in metadata, TLS and mTLS.

Servers: :class:`BearerAuthInterceptor` accepts calls whose ``authorization: Bearer <token>``
metadata carries one of the configured tokens (compared as SHA-256 digests, without stopping at
a match) and ends every other call with UNAUTHENTICATED. The health service stays open, as
load balancers and gRPC's own client-side health checks call it without credentials.
:func:`server_credentials` turns :class:`ServerTls` into TLS, or mTLS when a client CA is set.

Clients: :func:`secure_channel` opens a channel over TLS (:class:`ClientTls`) or plaintext and
sends the bearer token on every call. Tokens are only ever read from the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from llmrouter.config import ConfigError

__all__ = [
    "BearerAuthInterceptor",
    "ClientTls",
    "ServerTls",
    "bearer_interceptors",
    "channel_factory",
    "read_token",
    "read_tokens",
    "secure_channel",
    "server_credentials",
]

# Methods anyone may call: health checks come from load balancers and gRPC's own
# client-side health checking, which carry no credentials.
_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


@dataclass(frozen=True)
class ServerTls:
    """TLS of a gRPC server (a ``tls`` table); no certificate serves plaintext."""

    # PEM certificate chain the service presents ("" serves plaintext).
    cert_file: str = ""
    # PEM private key of cert_file.
    key_file: str = ""
    # PEM CA bundle; when set, every client must present a certificate it signed (mTLS).
    client_ca_file: str = ""

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ConfigError("cert_file: set both cert_file and key_file, or neither")
        if self.client_ca_file and not self.cert_file:
            raise ConfigError("client_ca_file: client certificates need TLS (set cert_file)")

    @property
    def enabled(self) -> bool:
        """Whether the server speaks TLS."""
        return bool(self.cert_file)


@dataclass(frozen=True)
class ClientTls:
    """TLS towards a gRPC service (a ``*_tls`` table); off unless enabled or a file is set."""

    # Connect over TLS even without a CA file (the system roots verify the server).
    enabled: bool = False
    # PEM CA bundle that signed the server's certificate ("" uses the system roots).
    ca_file: str = ""
    # PEM client certificate chain, for services that require client certificates (mTLS).
    cert_file: str = ""
    # PEM private key of cert_file.
    key_file: str = ""
    # Name the server's certificate must carry, when it differs from the address's host.
    server_name: str = ""

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ConfigError("cert_file: set both cert_file and key_file, or neither")

    @property
    def active(self) -> bool:
        """Whether the channel uses TLS."""
        return self.enabled or bool(self.ca_file or self.cert_file)


def read_token(env_name: str, key: str, environ: Mapping[str, str] | None = None) -> str:
    """The token in environment variable ``env_name`` ("" when no variable is named).

    A named variable that is unset or empty is a configuration error: a client that was meant
    to authenticate must not silently call without credentials.
    """
    if not env_name:
        return ""
    env = os.environ if environ is None else environ
    token = env.get(env_name, "").strip()
    if not token:
        raise ConfigError(f"{key}: environment variable {env_name} is not set or empty")
    return token


def read_tokens(
    env_names: Sequence[str], key: str, environ: Mapping[str, str] | None = None
) -> tuple[bytes, ...]:
    """SHA-256 digests of the tokens in the named environment variables."""
    return tuple(
        _digest(read_token(name, f"{key}[{i}]", environ)) for i, name in enumerate(env_names)
    )


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _read(path: str, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None


def server_credentials(tls: ServerTls, section: str) -> grpc.ServerCredentials | None:
    """TLS (or mTLS) credentials for ``tls``; None for plaintext."""
    if not tls.enabled:
        return None
    key = _read(tls.key_file, f"{section}.tls.key_file")
    cert = _read(tls.cert_file, f"{section}.tls.cert_file")
    ca = _read(tls.client_ca_file, f"{section}.tls.client_ca_file") if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


def channel_factory(
    tls: ClientTls,
    *,
    token: str = "",
    key: str = "",
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[Any] = (),
) -> Callable[[str], grpc.aio.Channel]:
    """Opens channels over TLS when ``tls`` is active, sending ``token`` on each call.

    Certificate files are read now, so a missing one fails at start; ``key`` names the config
    table of ``tls`` in error messages.
    """
    chosen = [*bearer_interceptors(token), *interceptors]
    if not tls.active:

        def plaintext(target: str) -> grpc.aio.Channel:
            return grpc.aio.insecure_channel(target, options=options, interceptors=chosen)

        return plaintext
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca_file, f"{key}.ca_file") if tls.ca_file else None,
        private_key=_read(tls.key_file, f"{key}.key_file") if tls.key_file else None,
        certificate_chain=_read(tls.cert_file, f"{key}.cert_file") if tls.cert_file else None,
    )
    all_options = list(options)
    if tls.server_name:
        all_options.append(("grpc.ssl_target_name_override", tls.server_name))

    def encrypted(target: str) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(
            target, credentials, options=all_options, interceptors=chosen
        )

    return encrypted


def secure_channel(
    target: str,
    tls: ClientTls,
    *,
    token: str = "",
    key: str = "",
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[Any] = (),
) -> grpc.aio.Channel:
    """A channel to ``target``, as :func:`channel_factory` opens it."""
    factory = channel_factory(tls, token=token, key=key, options=options, interceptors=interceptors)
    return factory(target)


# Server side --------------------------------------------------------------------------------

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Any]]


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """UNAUTHENTICATED for calls without one of the accepted bearer tokens."""

    def __init__(self, digests: Sequence[bytes]) -> None:
        if not digests:
            raise ValueError("BearerAuthInterceptor needs at least one token")
        self._digests = tuple(digests)

    def _accepts(self, metadata: Sequence[tuple[str, Any]] | None) -> bool:
        presented = ""
        for name, value in metadata or ():
            if name == "authorization" and isinstance(value, str):
                scheme, _, token = value.strip().partition(" ")
                if scheme.lower() == "bearer":
                    presented = token.strip()
        if not presented:
            return False
        digest = _digest(presented)
        found = False
        for known in self._digests:  # no early exit: the time says nothing about which matched
            found |= hmac.compare_digest(known, digest)
        return found

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Any:
        handler: Any = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(_OPEN_PREFIXES):
            return handler
        if self._accepts(details.invocation_metadata):
            return handler
        return _refusal(handler)


_MISSING = "missing or invalid bearer token (authorization metadata)"


def _refusal(handler: Any) -> Any:
    """A handler of the same shape as ``handler`` that ends the call with UNAUTHENTICATED."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _MISSING)

    async def refuse_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _MISSING)
        yield  # pragma: no cover - makes this an async generator, as stream handlers are

    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(refuse, **kwargs)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse_stream, **kwargs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(refuse, **kwargs)
    return grpc.stream_stream_rpc_method_handler(refuse_stream, **kwargs)


# Client side --------------------------------------------------------------------------------


def _with_token(details: Any, token: str) -> Any:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), ("authorization", f"Bearer {token}"))
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _UnaryUnaryBearer(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self._token), request)


class _UnaryStreamBearer(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self._token), request)


def bearer_interceptors(token: str) -> list[Any]:
    """Client interceptors that send ``token`` on every call (none for an empty token)."""
    if not token:
        return []
    return [_UnaryUnaryBearer(token), _UnaryStreamBearer(token)]
