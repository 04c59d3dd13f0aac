"""How gRPC services are reached: TLS and mTLS, and the bearer token a client sends.

Servers: :func:`server_credentials` turns :class:`ServerTls` into TLS, or mTLS when a client CA
is set; which caller may call which method is :mod:`llmrouter.access`.

Clients: :func:`secure_channel` opens a channel over TLS (:class:`ClientTls`) or plaintext and
sends the bearer token on every call. Tokens are only ever read from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from llmrouter.config import ConfigError

__all__ = [
    "ENV_NAME",
    "ClientTls",
    "ServerTls",
    "bearer_interceptors",
    "channel_factory",
    "read_token",
    "secure_channel",
    "server_credentials",
]


#: What an environment variable name looks like (POSIX: letters, digits and _, no leading digit).
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Names shown in messages: conventional upper-case names only. A setting that should name a
# variable may hold the token itself by mistake, and a random token can look like a name.
_SHOWN_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")


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
    to authenticate must not silently call without credentials. Messages quote ``env_name``
    only when it looks like a conventional (upper-case) name: never a token set by mistake
    where its variable's name belongs.
    """
    if not env_name:
        return ""
    if not ENV_NAME.fullmatch(env_name):
        raise ConfigError(
            f"{key}: not an environment variable name (letters, digits and _; name the "
            "variable that holds the token, not the token)"
        )
    env = os.environ if environ is None else environ
    token = env.get(env_name, "").strip()
    if not token:
        if _SHOWN_NAME.fullmatch(env_name):
            raise ConfigError(f"{key}: environment variable {env_name} is not set or empty")
        raise ConfigError(f"{key}: the environment variable it names is not set or empty")
    return token


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
