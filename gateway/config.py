"""Gateway configuration: section ``[gateway]`` of the TOML file plus ``LLMROUTER_GATEWAY_*``.

API keys never appear in plain text here: a key is configured as the SHA-256 digest of the key
(``sha256``) or as the name of the environment variable holding it (``env``, read at start by
:mod:`gateway.auth`). The shortcut ``LLMROUTER_GATEWAY_API_KEYS=id:key,id:key`` is hashed as it
is read, so the loaded config holds digests only; ``LLMROUTER_GATEWAY_ADMIN_API_KEYS`` does the
same for admin keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from llmrouter.access import is_loopback
from llmrouter.config import ConfigError, load_section, read_file
from llmrouter.security import ClientTls
from llmrouter.shared_state import StateConfig, load_state_config
from llmrouter.sizes import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    check_request_limits,
    configured_int,
)

__all__ = [
    "ADMIN_API_KEYS_ENV",
    "API_KEYS_ENV",
    "ENV_SHORTCUTS",
    "TRACE_ID",
    "ApiKeyConfig",
    "GatewayConfig",
    "hash_key",
    "load_config",
    "trace_url",
]

# The shortcut variables: comma-separated ``id:key`` pairs, hashed at once.
API_KEYS_ENV = "LLMROUTER_GATEWAY_API_KEYS"
ADMIN_API_KEYS_ENV = "LLMROUTER_GATEWAY_ADMIN_API_KEYS"
# Variables of the section that load_config reads itself, and the key each adds to.
ENV_SHORTCUTS = {API_KEYS_ENV: "api_keys", ADMIN_API_KEYS_ENV: "api_keys"}

# Key ids show up in usage reports and logs; keep them plain (no ':' so the shortcut can split).
_KEY_ID = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_URL = re.compile(r"https?://[^\s/?#]+(?:/[^\s?#]*)?")
# A link for the browser: path, query and fragment allowed (SPA viewers route by fragment).
_LINK = re.compile(r"https?://[^\s/?#]+(?:[/?#]\S*)?")
# What GatewayConfig.trace_url replaces with a hex trace id.
TRACE_ID = "{trace_id}"
_ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})")


def hash_key(key: str) -> str:
    """The hex SHA-256 digest of an API key, as ``sha256`` holds it."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyConfig:
    """One API key the gateway accepts: exactly one of ``sha256`` and ``env`` is set."""

    # Name of the key in usage reports and logs (sent to the router as caller.api_key_id).
    id: str
    # Hex SHA-256 digest of the key (`printf %s "$KEY" | sha256sum`), so files hold no secret.
    sha256: str = ""
    # Name of an environment variable holding the key, read once at start.
    env: str = ""
    # May call /v1/admin/* (routing for every tenant) and read every key's reports; other
    # keys get 403 there and see only their own usage.
    admin: bool = False
    # Chat completions per minute for this key across every gateway replica (sliding
    # window); unset: gateway.rate_limit_rpm; 0: no limit.
    rpm: int | None = None
    # Tokens (prompt plus completion) per minute for this key, counted as for rpm; unset:
    # gateway.rate_limit_tpm; 0: no limit.
    tpm: int | None = None
    # Team the key belongs to (sent to the router as caller.team_id): team budgets
    # ([[router.budgets]] scope = "team") and the ledger's team_id; "" = none.
    team: str = ""

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.id):
            # Not quoted: a key given as key:id in LLMROUTER_GATEWAY_API_KEYS would be printed.
            raise ConfigError("id: expected 1-64 letters, digits or . _ @ -")
        if bool(self.sha256) == bool(self.env):
            raise ConfigError("sha256: set exactly one of sha256 and env")
        if self.sha256 and not _SHA256.fullmatch(self.sha256):
            raise ConfigError("sha256: expected 64 hex digits (the SHA-256 digest of the key)")
        if self.env and not _ENV_NAME.fullmatch(self.env):
            raise ConfigError("env: not an environment variable name (letters, digits and _)")
        if self.team and not _KEY_ID.fullmatch(self.team):
            raise ConfigError("team: expected 1-64 letters, digits or . _ @ -")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name}: must be 0 (no limit) or positive, got {value}")


@dataclass(frozen=True)
class GatewayConfig:
    """Where the HTTP gateway listens, which services it calls, its limits and its API keys."""

    # Interface the HTTP server binds ("0.0.0.0" to accept connections from other hosts).
    host: str = "127.0.0.1"
    # TCP port of the HTTP server; 0 picks a free one (tests).
    port: int = 8080
    # host:port of each RouterService replica (gRPC); calls are spread round robin.
    router_addresses: tuple[str, ...] = ("127.0.0.1:50051",)
    # host:port of MetricsService (gRPC), for the cost and usage endpoints.
    metrics_address: str = "127.0.0.1:50052"
    # Deadline of one request, in seconds; a stream must finish within it too. A client's
    # X-Request-Timeout header can shorten it, never lengthen it.
    request_timeout_s: float = 120.0
    # How long /readyz waits for each health check, in seconds.
    readiness_timeout_s: float = 1.0
    # Largest accepted request body, in bytes (32 MiB: long-context prompts and base64 images);
    # larger bodies get 413 before any parsing. Each request goes to the router as one gRPC
    # message of at most this plus 64 KiB: router.max_receive_message_bytes must be at least
    # that (it follows this key when both are in one file; set lower there, start fails).
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Largest answer taken from the router or the metrics service, in bytes (the gRPC receive
    # limit of both channels); a larger one is a 502 that clients are told not to retry.
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    # Largest request line plus headers of one request, in bytes; larger gets 431 and the
    # connection closes (counted as bytes arrive, so an endless header cannot grow memory).
    max_header_bytes: int = 32768
    # Seconds from a connection's start (or a request's first byte on a reused connection)
    # until its headers are complete; then 408 and close (slowloris).
    header_timeout_s: float = 10.0
    # Longest pause between two reads of a request body, in seconds; then 408 and close.
    body_timeout_s: float = 30.0
    # Seconds from the end of the headers to the end of the body, however steadily it comes
    # (a byte just within each pause would hold a connection forever); then 408 and close.
    body_deadline_s: float = 120.0
    # Seconds an idle keep-alive connection stays open after its last response.
    keepalive_timeout_s: float = 5.0
    # Open client connections at once; one more is answered 503 (Retry-After: 1) and closed.
    max_connections: int = 1000
    # Seconds in-flight requests get to finish after a stop is requested.
    shutdown_grace_s: float = 10.0
    # Require an API key (Authorization: Bearer, or x-api-key) on every endpoint but
    # /healthz, /readyz and /openapi.json. Turning it off makes every caller an admin, so it
    # is refused unless host is a loopback address (local runs only).
    auth_enabled: bool = True
    # The accepted keys; with auth enabled at least one is needed (or LLMROUTER_GATEWAY_API_KEYS).
    api_keys: tuple[ApiKeyConfig, ...] = ()
    # Chat completions per minute per API key (a key's own rpm replaces it), one limit across
    # every gateway replica sharing [state]; beyond it 429 with Retry-After and x-ratelimit-*
    # headers. 0: no limit. With auth off it applies to all local callers together.
    rate_limit_rpm: int = 0
    # Tokens per minute per API key (a key's own tpm replaces it): the request's estimated
    # prompt plus its max_tokens (256 when unset) are reserved up front, corrected to the
    # usage the answer reports. 0: no limit.
    rate_limit_tpm: int = 0
    # Gateway replicas sharing these limits: while the [state] Redis does not answer, each
    # replica admits its share, limit // rate_limit_replicas (at least 1).
    rate_limit_replicas: int = 1
    # Percent of a key's limit each replica leases from [state] at a time and admits from in
    # process (most requests then cost no Redis round trip; unused leases hold back at most
    # this share per replica; limits under 100 / this are counted request by request).
    # 0: every request is counted in [state].
    rate_limit_lease_percent: float = 1.0
    # Environment variable holding the bearer token sent to the routers ("" sends none); the
    # router must grant it the inference scope.
    router_token_env: str = ""
    # Environment variable holding the token sent with admin RPCs (the router's admin scope);
    # "" sends router_token_env's token.
    router_admin_token_env: str = ""
    # TLS towards the routers; a cert_file and key_file authenticate the gateway (mTLS).
    router_tls: ClientTls = field(default_factory=ClientTls)
    # Environment variable holding the bearer token sent to the metrics service (read scope).
    metrics_token_env: str = ""
    # TLS towards the metrics service.
    metrics_tls: ClientTls = field(default_factory=ClientTls)
    # Jaeger UI as the operator's browser reaches it: the dashboard links each fallback event
    # to {jaeger_url}/trace/{trace_id}. Empty shows no links (unless trace_url is set).
    jaeger_url: str = "http://localhost:16686"
    # The dashboard's trace link as a template, for any trace viewer: an http:// or https://
    # URL with {trace_id} (32 hex digits) in it, e.g. Phoenix's
    # "http://localhost:6006/projects/UHJvamVjdDox/traces/{trace_id}". Set, it wins over
    # jaeger_url; empty: jaeger_url's link.
    trace_url: str = ""
    # Shared state across replicas: the top-level [state] section (not [gateway.state]);
    # /readyz shows its backend and whether it answers.
    state: StateConfig = field(default_factory=StateConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: must be between 0 and 65535, got {self.port}")
        if not self.auth_enabled and not is_loopback(self.host):
            raise ConfigError(
                f"auth_enabled: false makes every caller an admin, so it is only for a host on "
                f"loopback; host {self.host or '(all interfaces)'} is reachable from other "
                "machines: set auth_enabled = true with api_keys, or host = 127.0.0.1"
            )
        if not self.router_addresses:
            raise ConfigError("router_addresses: must name at least one host:port")
        for i, address in enumerate(self.router_addresses):
            _check_address(address, f"router_addresses[{i}]")
        if len(set(self.router_addresses)) != len(self.router_addresses):
            raise ConfigError("router_addresses: lists an address twice")
        _check_address(self.metrics_address, "metrics_address")
        for name in (
            "request_timeout_s",
            "readiness_timeout_s",
            "header_timeout_s",
            "body_timeout_s",
            "body_deadline_s",
            "keepalive_timeout_s",
        ):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"{name}: must be positive, got {value}")
        for name in ("rate_limit_rpm", "rate_limit_tpm"):
            value = getattr(self, name)
            if value < 0:
                raise ConfigError(f"{name}: must be 0 (no limit) or positive, got {value}")
        if self.rate_limit_replicas < 1:
            raise ConfigError(
                f"rate_limit_replicas: must be at least 1, got {self.rate_limit_replicas}"
            )
        if not 0 <= self.rate_limit_lease_percent <= 10:
            raise ConfigError(
                "rate_limit_lease_percent: must be from 0 (no leases) to 10, got "
                f"{self.rate_limit_lease_percent}"
            )
        for name in ("max_body_bytes", "max_response_bytes", "max_header_bytes", "max_connections"):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigError(f"{name}: must be positive, got {value}")
        if self.max_header_bytes < 1024:  # below this, ordinary clients could not send a request
            raise ConfigError(
                f"max_header_bytes: must be at least 1024, got {self.max_header_bytes}"
            )
        if self.shutdown_grace_s < 0:
            raise ConfigError(
                f"shutdown_grace_s: must not be negative, got {self.shutdown_grace_s}"
            )
        if self.jaeger_url and not _URL.fullmatch(self.jaeger_url):
            raise ConfigError(
                f"jaeger_url: expected an http:// or https:// URL, got {self.jaeger_url!r}"
            )
        if self.trace_url:
            _check_trace_url(self.trace_url)
        seen_ids: set[str] = set()
        seen_digests: set[str] = set()
        for i, key in enumerate(self.api_keys):
            if key.id in seen_ids:
                raise ConfigError(f"api_keys[{i}].id: duplicate key id {key.id!r}")
            seen_ids.add(key.id)
            if key.sha256 and key.sha256.lower() in seen_digests:
                raise ConfigError(f"api_keys[{i}].sha256: the same key is configured twice")
            seen_digests.add(key.sha256.lower())

    def trace_link(self) -> str:
        """The dashboard's trace link template (``{trace_id}`` in it), or "" for no links."""
        if self.trace_url:
            return self.trace_url
        if self.jaeger_url:
            return self.jaeger_url.rstrip("/") + "/trace/" + TRACE_ID
        return ""


def trace_url(template: str, trace_id: str) -> str | None:
    """The link to trace ``trace_id`` made from ``template`` (:meth:`GatewayConfig.trace_link`);
    None without a template or a trace id."""
    if not template or not trace_id:
        return None
    return template.replace(TRACE_ID, trace_id)


def _check_trace_url(template: str) -> None:
    if TRACE_ID not in template:
        raise ConfigError(f"trace_url: must contain {TRACE_ID}, got {template!r}")
    if not _LINK.fullmatch(template.replace(TRACE_ID, "0" * 32)):
        raise ConfigError(
            f"trace_url: expected an http:// or https:// URL with {TRACE_ID} after the host, "
            f"got {template!r}"
        )
    if TRACE_ID in urlsplit(template).netloc:
        raise ConfigError(f"trace_url: {TRACE_ID} must not be in the host, got {template!r}")


def _check_address(address: str, name: str) -> None:
    match = _ADDRESS.fullmatch(address)
    if match is None or not 0 < int(match.group(1)) <= 65535:
        raise ConfigError(f"{name}: expected host:port, got {address!r}")


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Read ``[gateway]`` from ``path`` (or ``$LLMROUTER_CONFIG``) with environment overrides."""
    env = os.environ if environ is None else environ
    document = read_file(path)
    section = document.get("gateway", {})
    if isinstance(section, Mapping) and "state" in section:
        raise ConfigError("gateway.state: shared state is the top-level [state] section")
    config = load_section(GatewayConfig, "gateway", document, env, shortcuts=ENV_SHORTCUTS)
    config = dataclasses.replace(config, state=load_state_config(document, env))
    receive = configured_int(document, "router", "max_receive_message_bytes", env)
    if receive is not None:
        check_request_limits(config.max_body_bytes, receive, "gateway.max_body_bytes")
    extra = [
        *_parse_shortcut(env.get(API_KEYS_ENV, ""), API_KEYS_ENV, admin=False),
        *_parse_shortcut(env.get(ADMIN_API_KEYS_ENV, ""), ADMIN_API_KEYS_ENV, admin=True),
    ]
    if not extra:
        return config
    try:
        return dataclasses.replace(config, api_keys=(*config.api_keys, *extra))
    except ConfigError as exc:
        raise ConfigError(f"gateway.{exc}") from None


def _parse_shortcut(text: str, variable: str, *, admin: bool) -> list[ApiKeyConfig]:
    """``id:key,id:key`` from ``variable`` as hashed ApiKeyConfigs; messages never quote a
    key."""
    keys = []
    for n, pair in enumerate(p.strip() for p in text.split(",")):
        if not pair:
            continue
        key_id, colon, key = pair.partition(":")
        if not colon or not key.strip():
            raise ConfigError(f"{variable}: entry {n + 1}: expected id:key")
        try:
            keys.append(ApiKeyConfig(id=key_id.strip(), sha256=hash_key(key.strip()), admin=admin))
        except ConfigError as exc:
            raise ConfigError(f"{variable}: entry {n + 1}: {exc}") from None
    return keys
