"""Shared state across replicas: one small async key/value + pub/sub interface, two backends.

``embedded`` keeps everything in this process (no dependency, the single-process default of
``make run``); ``redis`` keeps it in Redis through the ``redis`` package's asyncio client, so
every router and gateway replica pointed at the same server sees the same values and
messages. Config section ``[state]`` (read by the router and the gateway)::

    [state]
    backend = "redis"                       # or "embedded" (default)
    redis_url = "rediss://cache.internal:6380/0"
    redis_password_env = "REDIS_PASSWORD"   # the password comes from the environment only

Every operation raises :class:`StateUnavailable` (never a Redis exception) when the backend
cannot answer within ``state.operation_timeout_ms``; callers decide how to degrade (rate
limits fall back to per-replica shares, a cache lookup becomes a miss). Keys are namespaced
with ``state.key_prefix``. Commands used: GET, SET (PX, NX), DEL, INCRBY + PEXPIRE in one
transaction, PUBLISH, SUBSCRIBE (https://redis.io/docs/latest/commands/).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from .config import ConfigError, load_section

__all__ = [
    "BACKENDS",
    "EmbeddedState",
    "RedisState",
    "SharedState",
    "StateConfig",
    "StateUnavailable",
    "load_state_config",
    "open_state",
]

log = logging.getLogger(__name__)

BACKENDS = ("embedded", "redis")
Listener = Callable[[bytes], None]


@dataclass(frozen=True)
class StateConfig:
    """Section ``[state]``: where replicas share limits, breakers, cache and admin pushes."""

    # "embedded" (this process only) or "redis" (shared by every replica using the same URL).
    backend: str = "embedded"
    # redis:// or rediss:// (TLS) URL with an optional /db; no password in it (see below).
    # TLS options go in the query, as redis-py reads them: ?ssl_ca_certs=/path/ca.pem.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Environment variable holding the Redis password (ACL user: put it in the URL's user part).
    redis_password_env: str = ""
    # Prefix of every key and channel, so several stacks can share one Redis.
    key_prefix: str = "llmrouter:"
    # Longest wait for a connection, in milliseconds.
    connect_timeout_ms: float = 1000.0
    # Longest wait for one command's answer, in milliseconds; past it StateUnavailable.
    operation_timeout_ms: float = 250.0
    # Most Redis connections this process opens; more concurrent commands wait for one.
    max_connections: int = 32

    def __post_init__(self) -> None:
        # Keys are relative: llmrouter.config.build prefixes the section ("state.backend: ...").
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"backend: expected one of {', '.join(BACKENDS)}, got {self.backend!r}"
            )
        parts = urlsplit(self.redis_url)
        if parts.scheme not in ("redis", "rediss"):
            raise ConfigError(
                f"redis_url: expected a redis:// or rediss:// URL, got scheme {parts.scheme!r}"
            )
        if parts.password:
            raise ConfigError(
                "redis_url: holds a password; put it in the environment and name the "
                "variable in state.redis_password_env"
            )
        if self.max_connections < 1:
            raise ConfigError(f"max_connections: expected at least 1, got {self.max_connections}")
        for name in ("connect_timeout_ms", "operation_timeout_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}: expected a positive number, got {value}")


def load_state_config(
    document: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> StateConfig:
    """Build ``[state]`` from a parsed config document and ``LLMROUTER_STATE_*`` variables.

    Raises :class:`ConfigError` naming the key at fault.
    """
    return load_section(StateConfig, "state", document, environ)


class StateUnavailable(RuntimeError):
    """The shared store did not answer (unreachable, timed out or refused the command)."""


class SharedState(Protocol):
    """What the router and gateway need from a store shared by their replicas.

    Values are bytes; ``ttl_s`` is in seconds (None: kept until deleted). Every coroutine
    raises :class:`StateUnavailable` when the backend cannot answer.
    """

    backend: str

    async def get(self, key: str) -> bytes | None:
        """The value at ``key``, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store ``value`` at ``key``, replacing any value."""
        ...

    async def set_if_absent(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Store ``value`` at ``key`` for ``ttl_s`` seconds only if ``key`` holds nothing;
        True when this call stored it (a short-lived lock: one caller of many wins).

        Redis ``SET key value NX PX ms``.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no error when absent)."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add ``amount`` to the integer at ``key`` (0 when absent) atomically; the new value.

        ``ttl_s`` sets the key's expiry when given (each call renews it).
        """
        ...

    async def publish(self, channel: str, message: bytes) -> None:
        """Deliver ``message`` to every replica's listeners on ``channel`` (at most once)."""
        ...

    def subscribe(self, channel: str, listener: Listener) -> None:
        """Call ``listener(message)`` on this event loop for each message on ``channel``.

        Delivery is best effort (a replica that is disconnected misses messages): pair it
        with a periodic resync from the durable source.
        """
        ...

    async def ping(self) -> bool:
        """True when the backend answers now (for readiness); never raises."""
        ...

    def describe(self) -> str:
        """Backend and address for logs and ``/readyz``, without credentials."""
        ...

    async def close(self) -> None:
        """Stop listeners and close connections."""
        ...


class EmbeddedState:
    """In-process backend: a dict with expiry times and direct listener calls.

    Shared by everything in this process (one router or one gateway), nothing else.
    """

    backend = "embedded"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[bytes, float]] = {}
        self._listeners: dict[str, list[Listener]] = {}

    def _live(self, key: str) -> bytes | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires = item
        if expires <= self._clock():
            del self._values[key]
            return None
        return value

    def _expiry(self, ttl_s: float | None) -> float:
        return math.inf if ttl_s is None else self._clock() + ttl_s

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        self._values[key] = (value, self._expiry(ttl_s))

    async def set_if_absent(self, key: str, value: bytes, ttl_s: float) -> bool:
        if self._live(key) is not None:
            return False
        self._values[key] = (value, self._expiry(ttl_s))
        return True

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        current = self._live(key)
        value = (int(current) if current is not None else 0) + amount
        expires = (
            self._expiry(ttl_s) if ttl_s is not None else self._values.get(key, (b"", math.inf))[1]
        )
        self._values[key] = (str(value).encode(), expires)
        return value

    async def publish(self, channel: str, message: bytes) -> None:
        loop = asyncio.get_running_loop()
        for listener in tuple(self._listeners.get(channel, ())):
            loop.call_soon(listener, message)

    def subscribe(self, channel: str, listener: Listener) -> None:
        self._listeners.setdefault(channel, []).append(listener)

    async def ping(self) -> bool:
        return True

    def describe(self) -> str:
        return "embedded (this process only)"

    async def close(self) -> None:
        self._listeners.clear()


class RedisState:
    """Redis backend (``redis.asyncio``), shared by every replica using the same server.

    One bounded connection pool per process; one pub/sub connection, opened on the first
    :meth:`subscribe`, re-subscribing after a lost connection (messages published meanwhile
    are missed, as Redis pub/sub documents).
    """

    backend = "redis"

    def __init__(self, config: StateConfig, environ: Mapping[str, str] | None = None) -> None:
        """Raises :class:`ConfigError` when ``state.redis_password_env`` names an unset variable."""
        import redis.asyncio as redis_asyncio  # only deployments that use Redis import it

        self._config = config
        self._prefix = config.key_prefix
        self._timeout = config.operation_timeout_ms / 1000
        pool = redis_pool(config, environ)
        self._pool = pool
        self._client: Any = redis_asyncio.Redis(connection_pool=pool)
        self._listeners: dict[str, list[Listener]] = {}
        self._pubsub_task: asyncio.Task[None] | None = None

    async def _run(self, command: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await asyncio.wait_for(command, self._timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StateUnavailable(f"{self.describe()}: {type(exc).__name__}") from None

    async def get(self, key: str) -> bytes | None:
        value = await self._run(self._client.get(self._prefix + key))
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else max(1, math.ceil(ttl_s * 1000))
        await self._run(self._client.set(self._prefix + key, value, px=px))

    async def set_if_absent(self, key: str, value: bytes, ttl_s: float) -> bool:
        px = max(1, math.ceil(ttl_s * 1000))
        stored = await self._run(self._client.set(self._prefix + key, value, px=px, nx=True))
        return bool(stored)

    async def delete(self, key: str) -> None:
        await self._run(self._client.delete(self._prefix + key))

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        name = self._prefix + key

        async def transaction() -> int:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incrby(name, amount)
                if ttl_s is not None:
                    pipe.pexpire(name, max(1, math.ceil(ttl_s * 1000)))
                results = await pipe.execute()
            return int(results[0])

        result: int = await self._run(transaction())
        return result

    async def publish(self, channel: str, message: bytes) -> None:
        await self._run(self._client.publish(self._prefix + channel, message))

    def subscribe(self, channel: str, listener: Listener) -> None:
        self._listeners.setdefault(self._prefix + channel, []).append(listener)
        if self._pubsub_task is None:
            self._pubsub_task = asyncio.get_running_loop().create_task(
                self._listen(), name="llmrouter-state-pubsub"
            )

    async def _listen(self) -> None:
        """Deliver messages to listeners; reconnect with backoff when the connection drops."""
        from redis.exceptions import RedisError

        delay = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*self._listeners)
                subscribed = set(self._listeners)
                delay = 0.1
                while True:
                    if set(self._listeners) != subscribed:
                        await pubsub.subscribe(*(set(self._listeners) - subscribed))
                        subscribed = set(self._listeners)
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    channel = message["channel"]
                    name = channel.decode() if isinstance(channel, bytes) else str(channel)
                    data = message["data"]
                    payload = data if isinstance(data, bytes) else str(data).encode()
                    for listener in tuple(self._listeners.get(name, ())):
                        try:
                            listener(payload)
                        except Exception:  # a listener's bug must not stop delivery
                            log.exception("state: listener on %s failed", name)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning(
                    "state: pub/sub on %s lost (%s); retrying in %.1f s",
                    self.describe(),
                    type(exc).__name__,
                    delay,
                )
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def ping(self) -> bool:
        try:
            return bool(await self._run(self._client.ping()))
        except StateUnavailable:
            return False

    def describe(self) -> str:
        parts = urlsplit(self._config.redis_url)
        host = parts.hostname or "localhost"
        port = parts.port or 6379
        return f"redis ({parts.scheme}://{host}:{port}{parts.path or '/0'})"

    async def close(self) -> None:
        if self._pubsub_task is not None:
            self._pubsub_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pubsub_task
            self._pubsub_task = None
        with contextlib.suppress(Exception):
            await self._client.aclose()
        with contextlib.suppress(Exception):
            await self._pool.disconnect()


def redis_pool(config: StateConfig, environ: Mapping[str, str] | None = None) -> Any:
    """A bounded ``redis.asyncio.BlockingConnectionPool`` for ``config``: a burst of requests
    waits for a connection instead of opening hundreds at once; commands time out after
    ``operation_timeout_ms``. Used by :class:`RedisState` and the rate limiter.

    Raises :class:`ConfigError` when ``state.redis_password_env`` names an unset variable.
    """
    import redis.asyncio as redis_asyncio  # only deployments that use Redis import it

    env = os.environ if environ is None else environ
    password: str | None = None
    if config.redis_password_env:
        password = env.get(config.redis_password_env)
        if not password:
            raise ConfigError(
                f"state.redis_password_env: environment variable "
                f"{config.redis_password_env} is not set"
            )
    timeout = config.operation_timeout_ms / 1000
    return redis_asyncio.BlockingConnectionPool.from_url(
        config.redis_url,
        password=password,
        max_connections=config.max_connections,
        timeout=timeout,
        socket_connect_timeout=config.connect_timeout_ms / 1000,
        socket_timeout=timeout,
        health_check_interval=30,
    )


def open_state(config: StateConfig, environ: Mapping[str, str] | None = None) -> SharedState:
    """The backend ``config.backend`` names; connections open on first use.

    Raises :class:`ConfigError` for a Redis password variable that is not set.
    """
    if config.backend == "redis":
        return RedisState(config, environ)
    return EmbeddedState()
