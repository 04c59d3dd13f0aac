"""API-key authentication: which key, if any, a request presents.

Two kinds of keys: the configured ones (``gateway.api_keys`` and the environment; read-only)
and the virtual ones created at runtime through the admin API (:mod:`gateway.virtual_keys`).
Keys are held only as SHA-256 digests. A presented key is hashed and compared with every
configured digest by ``hmac.compare_digest``, without stopping at a match, so the time taken
says nothing about which key (or how much of one) matched; virtual keys are then looked up by
digest. What the gateway passes on is the key's id, never the key, its team and role, and
what it may use (:class:`Caller`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.datastructures import Headers

from gateway.config import API_KEYS_ENV, GatewayConfig
from gateway.errors import AuthenticationFailed, PermissionDenied
from gateway.virtual_keys import VirtualKeys
from llmrouter.access import is_loopback
from llmrouter.config import ConfigError

__all__ = ["LOCAL_CALLER", "Caller", "KeyRing", "presented_key"]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the id of its API key (None when auth is off) and whether that key
    may use the admin routes and every key's reports (role admin); for a virtual key also its
    team, what it may use and its own rate limits."""

    api_key_id: str | None
    admin: bool
    # The key's team (``team`` in its config; "" when none): sent to the router as
    # caller.team_id for team budgets and the ledger.
    team_id: str = ""
    # Caller.allowed_models of chat.proto (model names, "category:<name>"); empty: all.
    allowed_models: tuple[str, ...] = ()
    # Requests and tokens per minute of a virtual key; None: the gateway's defaults.
    rpm_limit: int | None = None
    tpm_limit: int | None = None

    @property
    def role(self) -> str:
        """``admin`` or ``user``."""
        return "admin" if self.admin else "user"


# Auth off (a local run): everything is allowed, as before admin keys existed.
LOCAL_CALLER = Caller(api_key_id=None, admin=True)

_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or in an x-api-key header."
)
_WRONG = "Incorrect API key provided."


@dataclass(frozen=True, repr=False)
class KeyRing:
    """The accepted keys as (digest, id, admin, team) entries; ``enabled`` False lets every request
    through as an admin."""

    enabled: bool
    _entries: tuple[tuple[bytes, str, bool, str], ...]
    #: Keys created at runtime (refreshed from the router while the app runs).
    virtual: VirtualKeys = field(default_factory=VirtualKeys)

    @classmethod
    def from_config(
        cls, config: GatewayConfig, environ: Mapping[str, str] | None = None
    ) -> KeyRing:
        """The keys of ``config``, reading ``env`` keys from ``environ`` (default os.environ).

        Raises ConfigError when auth is on but no key is configured, or a named variable is
        unset: the gateway must not start open by accident.
        """
        if not config.auth_enabled:
            return cls(enabled=False, _entries=())
        env = os.environ if environ is None else environ
        entries: list[tuple[bytes, str, bool, str]] = []
        for i, key in enumerate(config.api_keys):
            if key.sha256:
                digest = bytes.fromhex(key.sha256)
            else:
                secret = env.get(key.env, "").strip()
                if not secret:
                    raise ConfigError(
                        f"gateway.api_keys[{i}].env: environment variable {key.env} "
                        "is not set or empty"
                    )
                digest = _digest(secret)
            if any(hmac.compare_digest(digest, known) for known, _, _, _ in entries):
                raise ConfigError(f"gateway.api_keys[{i}]: the same key is configured twice")
            entries.append((digest, key.id, key.admin, key.team))
        if not entries:
            raise ConfigError(
                "gateway.api_keys: auth is enabled but no API key is configured; add "
                "[[gateway.api_keys]] entries (id plus sha256 or env), set "
                f"{API_KEYS_ENV}=id:key,..., or set gateway.auth_enabled = false for a "
                "local run"
            )
        return cls(enabled=True, _entries=tuple(entries))

    def __repr__(self) -> str:
        ids = ", ".join(
            key_id + (" (admin)" if admin else "") for _, key_id, admin, _ in self._entries
        )
        return f"KeyRing(enabled={self.enabled}, ids=[{ids}])"

    def authenticate(self, headers: Headers) -> Caller:
        """The caller whose key ``headers`` present; :data:`LOCAL_CALLER` when auth is off.

        Raises AuthenticationFailed when the key is missing or unknown.
        """
        if not self.enabled:
            _check_local(headers)
            return LOCAL_CALLER
        key = presented_key(headers)
        if key is None:
            raise AuthenticationFailed(_MISSING)
        digest = _digest(key)
        found: Caller | None = None
        for known, key_id, admin, team in self._entries:
            if hmac.compare_digest(known, digest):
                found = Caller(key_id, admin, team)
        if found is not None:
            return found
        virtual = self.virtual.find(digest)  # AuthenticationFailed when expired
        if virtual is None:
            raise AuthenticationFailed(_WRONG)
        return Caller(
            virtual.api_key_id,
            virtual.admin,
            virtual.team_id,
            virtual.allowed_models,
            virtual.rpm_limit,
            virtual.tpm_limit,
        )


_NOT_LOCAL = (
    "Refused: with auth off (a local run) the gateway serves only requests addressed to this "
    "machine (Host localhost or a loopback address) and not sent by another site's page "
    "(Origin, Sec-Fetch-Site); turn auth on to serve anyone else."
)


def _host_of(authority: str) -> str:
    """``host`` of a Host header or an Origin's authority (``[::1]:8080`` -> ``::1``)."""
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else authority
    return authority.rpartition(":")[0] if authority.count(":") == 1 else authority


def _check_local(headers: Headers) -> None:
    """With auth off every caller is an admin, so only this machine's own tools may call: any
    web page the developer opens could otherwise send "simple" cross-site requests (no
    preflight: text/plain or form bodies, CSRF), or read answers through DNS rebinding (a
    hostile name that resolves to 127.0.0.1 keeps its own Host header).

    Raises PermissionDenied unless Host names a loopback host, Origin (when sent) is a loopback
    origin and the browser does not mark the request cross-site. Sources: RFC 9110 §7.2 (Host),
    RFC 6454 §7 (Origin), Fetch Metadata (Sec-Fetch-Site).
    """
    if not _is_local(headers.get("host", "")):
        raise PermissionDenied(_NOT_LOCAL)
    origin = headers.get("origin")
    if origin is not None:
        _, _, authority = origin.partition("://")
        if not _is_local(authority):
            raise PermissionDenied(_NOT_LOCAL)
    if headers.get("sec-fetch-site", "") == "cross-site":
        raise PermissionDenied(_NOT_LOCAL)


@functools.lru_cache(maxsize=256)
def _is_local(authority: str) -> bool:
    """Whether a Host header or an Origin's authority names this machine. Cached: a local
    run sees the same few values on every request, and parsing an address is most of the
    check's cost (bounded: a client choosing its Host evicts only its own entries' worth)."""
    host = _host_of(authority).lower().rstrip(".")
    return is_loopback(host) or host.endswith(".localhost")


def presented_key(headers: Headers) -> str | None:
    """The key in ``Authorization: Bearer <key>`` or else ``x-api-key``; None when neither."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()
