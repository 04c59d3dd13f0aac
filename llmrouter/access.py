"""Who may call which method of a gRPC service: credentials, the scopes they grant, the scope
each method needs, and the rule that a service listening beyond loopback needs credentials.

Credentials are bearer tokens (``authorization: Bearer <token>`` metadata; the tokens come from
the environment and are kept as SHA-256 digests) and, under mTLS, client certificates named by
their subject common name. Each credential grants scopes; each method needs one scope (its
service's, or its own in :class:`ScopeTable`). gRPC's health service needs nothing (load
balancers and client-side health checks carry no credentials); server reflection needs any
accepted credential; any other method outside the table is refused to every caller
(PERMISSION_DENIED, reason ``METHOD_NOT_SCOPED``).

When tokens are configured, every call needs one; when certificate names are configured, every
call's certificate must be one of them; with both, both must grant the scope. A missing or
unknown credential gets UNAUTHENTICATED, a known one without the method's scope
PERMISSION_DENIED with ``google.rpc.ErrorInfo`` (reason ``SCOPE_MISSING``, domain ``llmrouter``,
metadata ``scope`` and ``method``). No message ever quotes a token, nor a configured value
that could be one (a token pasted where a variable name or scope belongs).

Cost: :meth:`Authorizer.check_for` builds one check per method at registration (the guard of
:mod:`llmrouter.guard` runs it before decoding the request); a call costs one metadata scan, one
SHA-256 and one dict lookup.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from llmrouter.config import ConfigError
from llmrouter.guard import Check, Context
from llmrouter.security import ENV_NAME, ServerTls, read_token
from llmrouter.status import rich_status

__all__ = [
    "API_KEY_ID_METADATA",
    "Authorizer",
    "CertGrant",
    "Check",
    "ScopeTable",
    "TokenGrant",
    "certificate_names",
    "is_loopback",
    "parse_token_grants",
    "require_credentials",
]

log = logging.getLogger(__name__)

#: gRPC metadata in which the gateway tells the router which API key made an admin call (an
#: admin-scoped caller's word, recorded beside its own credential in the audit log).
API_KEY_ID_METADATA = "llmrouter-api-key-id"

# Methods anyone may call: health checks come from load balancers and gRPC's own client-side
# health checking, which carry no credentials.
_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
# Methods any accepted credential may call, whatever its scopes (they read no data of ours).
# Every other method outside a server's scope table is refused to everyone: a service added
# without a scope must not become callable by every credential.
_ANY_CREDENTIAL_PREFIXES = (
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


@dataclass(frozen=True)
class TokenGrant:
    """A bearer token a service accepts and the scopes it grants (an ``auth_tokens`` entry)."""

    # Environment variable holding the token (read once at start; tokens are never in files).
    env: str
    # Scopes the token grants, e.g. ["inference"] (the service's table lists the scope names).
    scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not ENV_NAME.fullmatch(self.env):
            # Never quoted: a token pasted where its variable's name belongs would be printed.
            raise ConfigError(
                "env: not an environment variable name (letters, digits and _; "
                "name the variable that holds the token, not the token)"
            )
        if not self.scopes:
            raise ConfigError("scopes: name at least one scope")


@dataclass(frozen=True)
class CertGrant:
    """A client certificate (mTLS), by its subject common name, and the scopes it grants
    (a ``client_certs`` entry)."""

    # Subject common name (CN) of the certificate, as the CA issued it, e.g. "gateway".
    client_cn: str
    # Scopes the certificate grants.
    scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.client_cn:
            raise ConfigError("client_cn: must not be empty")
        if not self.scopes:
            raise ConfigError("scopes: name at least one scope")


@dataclass(frozen=True)
class ScopeTable:
    """The scope each method of a server needs."""

    # Full service name ("llmrouter.v1.RouterService") -> scope each of its methods needs.
    services: Mapping[str, str]
    # Full method ("/llmrouter.v1.MetricsService/RecordUsage") -> scope, instead of its service's.
    methods: Mapping[str, str] = field(default_factory=dict)
    # Full method -> further scopes that may call it too (a read both a gateway's inference
    # token and an operator's admin token need).
    also: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope name, in first-mentioned order."""
        extra = (scope for scopes in self.also.values() for scope in scopes)
        return tuple(dict.fromkeys((*self.services.values(), *self.methods.values(), *extra)))

    def scope_of(self, method: str) -> str | None:
        """The scope ``method`` needs; None for methods of services outside the table."""
        found = self.methods.get(method)
        if found is not None:
            return found
        return self.services.get(method.lstrip("/").partition("/")[0])

    def check_grants(
        self, tokens: Sequence[TokenGrant], certs: Sequence[CertGrant], tls: ServerTls
    ) -> None:
        """ConfigError naming the entry whose scope is unknown, or certificates without mTLS.

        The unknown scope is not quoted: a token pasted as ``ENV:<token>`` would be printed.
        """
        known = self.scopes
        named: tuple[tuple[str, Sequence[TokenGrant | CertGrant]], ...] = (
            ("auth_tokens", tokens),
            ("client_certs", certs),
        )
        for key, grants in named:
            for i, grant in enumerate(grants):
                for j, scope in enumerate(grant.scopes):
                    if scope not in known:
                        raise ConfigError(
                            f"{key}[{i}].scopes[{j}]: not a scope of this service "
                            f"(one of {', '.join(known)})"
                        )
        if certs and not tls.client_ca_file:
            raise ConfigError("client_certs: needs client certificates (set tls.client_ca_file)")


def parse_token_grants(text: str, key: str) -> tuple[TokenGrant, ...]:
    """``ENV:scope+scope,ENV:scope`` (the environment's form of ``auth_tokens``) as grants.

    Messages name ``key`` and the entry's position, never a token (the text holds only names).
    """
    grants = []
    for n, entry in enumerate(e.strip() for e in text.split(",")):
        if not entry:
            continue
        env, colon, scopes = entry.partition(":")
        names = tuple(s.strip() for s in scopes.split("+") if s.strip())
        if not colon or not names:
            raise ConfigError(f"{key}: entry {n + 1}: expected ENV_NAME:scope[+scope...]")
        try:
            grants.append(TokenGrant(env=env.strip(), scopes=names))
        except ConfigError as exc:
            raise ConfigError(f"{key}: entry {n + 1}: {exc}") from None
    return tuple(grants)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address) only accepts connections from this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere; "" and "0.0.0.0" are every interface


def require_credentials(
    section: str, host: str, *, tokens: bool, tls: ServerTls, certs: bool = False
) -> None:
    """ConfigError (one line naming the keys to set) when ``host`` is reachable beyond this
    machine and callers need neither a token nor a client certificate, or need a certificate
    that nothing scopes (``tls.client_ca_file`` without ``client_certs`` or tokens would give
    every certificate the CA signed every scope)."""
    if tokens or is_loopback(host):
        return
    if tls.client_ca_file:
        if certs:
            return
        raise ConfigError(
            f"{section}.client_certs: {section}.host {host or '(all interfaces)'} is reachable "
            f"beyond loopback and tls.client_ca_file alone would let every certificate the CA "
            f"signed call every method: name the certificates and their scopes in "
            f"{section}.client_certs (or set {section}.auth_tokens), or listen on 127.0.0.1"
        )
    raise ConfigError(
        f"{section}.host: {host or '(all interfaces)'} is reachable beyond loopback, so callers "
        f"need credentials: set {section}.auth_tokens (or {section}.auth_token_envs) or "
        f"{section}.tls.client_ca_file (mTLS), or listen on 127.0.0.1"
    )


def certificate_names(context: Context) -> list[str]:
    """``cert:<common name>`` of the client certificate the TLS layer accepted (none without
    mTLS)."""
    names = context.auth_context().get("x509_common_name") or ()
    return [f"cert:{n.decode(errors='replace')}" for n in names]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


_TOKEN_MISSING = rich_status(
    grpc.StatusCode.UNAUTHENTICATED,
    "missing bearer token (authorization metadata)",
    "TOKEN_MISSING",
)
_TOKEN_INVALID = rich_status(
    grpc.StatusCode.UNAUTHENTICATED,
    "invalid bearer token (authorization metadata)",
    "TOKEN_INVALID",
)
_CERT_UNKNOWN = rich_status(
    grpc.StatusCode.UNAUTHENTICATED,
    "the client certificate's common name is not accepted",
    "CERTIFICATE_NOT_ACCEPTED",
)


def _bearer(metadata: Iterable[tuple[str, Any]] | None) -> str:
    """The token of the last ``authorization: Bearer`` entry ("" when there is none)."""
    presented = ""
    for name, value in metadata or ():
        if name == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer":
                presented = token.strip()
    return presented


class Authorizer:
    """The credentials a server accepts, with their scopes, and the scope table of its methods.

    ``tokens`` maps SHA-256 digests of accepted tokens to their scopes (None: no token needed);
    ``certs`` maps certificate common names to their scopes (None: any certificate the TLS
    layer accepted). Build it with :meth:`from_config`.
    """

    def __init__(
        self,
        table: ScopeTable,
        tokens: Mapping[bytes, frozenset[str]] | None,
        certs: Mapping[str, frozenset[str]] | None,
        names: Mapping[bytes, str] | None = None,
    ) -> None:
        """``names``: token digest -> the environment variable it was read from (who a
        caller is, for audit logs; never the token)."""
        if tokens is None and certs is None:
            raise ValueError("Authorizer needs tokens or certificate names")
        self._table = table
        self._tokens = dict(tokens) if tokens is not None else None
        self._certs = dict(certs) if certs is not None else None
        self._names = dict(names or {})

    @classmethod
    def from_config(
        cls,
        table: ScopeTable,
        section: str,
        *,
        auth_token_envs: Sequence[str] = (),
        auth_tokens: Sequence[TokenGrant] = (),
        client_certs: Sequence[CertGrant] = (),
        environ: Mapping[str, str] | None = None,
    ) -> Authorizer | None:
        """Read the tokens from the environment; None when no credential is configured.

        ``auth_token_envs`` grant every scope (their meaning before scopes existed); the same
        token in several entries gets the union of their scopes. Raises ConfigError naming the
        key when a named variable is unset or empty.
        """
        every = frozenset(table.scopes)
        tokens: dict[bytes, frozenset[str]] = {}
        names: dict[bytes, str] = {}
        for i, name in enumerate(auth_token_envs):
            digest = _digest(read_token(name, f"{section}.auth_token_envs[{i}]", environ))
            tokens[digest] = every
            names.setdefault(digest, name)
        if auth_token_envs:
            log.warning(
                "%s.auth_token_envs: each of these tokens may call every method (scopes %s); "
                "give each caller only the scopes it needs with %s.auth_tokens",
                section,
                ", ".join(table.scopes),
                section,
            )
        for i, grant in enumerate(auth_tokens):
            digest = _digest(read_token(grant.env, f"{section}.auth_tokens[{i}].env", environ))
            tokens[digest] = tokens.get(digest, frozenset()) | frozenset(grant.scopes)
            names.setdefault(digest, grant.env)
        certs: dict[str, frozenset[str]] = {}
        for cert in client_certs:
            certs[cert.client_cn] = certs.get(cert.client_cn, frozenset()) | set(cert.scopes)
        if not tokens and not certs:
            return None
        return cls(table, tokens or None, certs or None, names)

    def identify(self, context: Context) -> str:
        """Who is calling, for audit logs: ``token:<ENV_NAME>`` (the variable its accepted
        token was read from), ``cert:<common name>`` under mTLS, both, or ``anonymous``."""
        parts = []
        token = _bearer(context.invocation_metadata())
        if token and self._tokens is not None:
            name = self._names.get(_digest(token))
            if name is not None:
                parts.append(f"token:{name}")
        parts += certificate_names(context)
        return " ".join(parts) or "anonymous"

    def scopes_of_token(self, token: str) -> frozenset[str] | None:
        """The scopes ``token`` grants (None: not accepted, or no tokens configured)."""
        return None if self._tokens is None else self._tokens.get(_digest(token))

    def check_for(self, method: str) -> Check | None:
        """The check calls of ``method`` pass before its handler runs (None: open method).

        Methods outside the scope table are refused to every caller (PERMISSION_DENIED,
        reason ``METHOD_NOT_SCOPED``), except server reflection, which any accepted credential
        may call.
        """
        if method.startswith(_OPEN_PREFIXES):
            return None
        need = self._table.scope_of(method)
        # Any one of these scopes lets a credential call the method.
        needs = frozenset((need, *self._table.also.get(method, ()))) if need else frozenset()
        if need is None and not method.startswith(_ANY_CREDENTIAL_PREFIXES):
            unscoped = rich_status(
                grpc.StatusCode.PERMISSION_DENIED,
                f"no credential may call {method}: this server grants no scope for it",
                "METHOD_NOT_SCOPED",
                metadata={"method": method},
            )
            return lambda context: unscoped
        denied = (
            rich_status(
                grpc.StatusCode.PERMISSION_DENIED,
                f"this credential may not call {method} (it needs scope "
                + " or ".join(repr(n) for n in sorted(needs))
                + ")",
                "SCOPE_MISSING",
                metadata={"scope": need, "method": method},
            )
            if need is not None
            else None
        )
        tokens, certs = self._tokens, self._certs

        def check(context: Context) -> grpc.Status | None:
            if tokens is not None:
                token = _bearer(context.invocation_metadata())
                if not token:
                    return _TOKEN_MISSING
                # A dict lookup by digest: its timing can only tell about the SHA-256 of what
                # the caller sent, which says nothing about an accepted token.
                granted = tokens.get(_digest(token))
                if granted is None:
                    return _TOKEN_INVALID
                if need is not None and needs.isdisjoint(granted):
                    return denied
            if certs is not None:
                names = context.auth_context().get("x509_common_name") or ()
                allowed = None
                for name in names:
                    allowed = certs.get(name.decode(errors="replace"))
                if allowed is None:
                    return _CERT_UNKNOWN
                if need is not None and needs.isdisjoint(allowed):
                    return denied
            return None

        return check
