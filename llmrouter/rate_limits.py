"""Rate limits shared by every replica: sliding-window counters in the shared state store.

The gateway limits each API key (requests and tokens per minute) and the router each model's
and provider's quota, so that it fails over before the provider answers 429. Both count in the
store ``[state]`` names, through the ``limits`` package's sliding-window-counter strategy
(https://limits.readthedocs.io/en/stable/strategies.html#sliding-window-counter): with the
``redis`` backend one Lua script per charge checks and counts atomically on the server, so N
replicas admit N requests of a limit of N in total, not N each; the ``embedded`` backend counts
in this process (``limits`` memory storage). The window's weight and expiry come from Redis'
own clock (PTTL), so replicas' clocks need not agree.

Redis unreachable (or slower than ``state.operation_timeout_ms``): requests keep being served.
Limits fall back to this replica's share, ``limit // replicas`` (at least 1), counted in this
process; the outage is logged once, its decisions counted (:attr:`RateLimiter.fallbacks`, a
Prometheus counter in each service), and the store is asked again after
:data:`RETRY_STORE_S`. A request is never refused because the store failed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, SlidingWindowCounterSupport, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from .config import ConfigError
from .shared_state import StateConfig

__all__ = [
    "KINDS",
    "RETRY_STORE_S",
    "Charge",
    "Quota",
    "RateLimiter",
    "Standing",
    "Verdict",
    "duration_text",
]

log = logging.getLogger(__name__)

# What a quota counts: requests, or tokens (prompt plus completion).
KINDS = ("requests", "tokens")
# Seconds between attempts to reach the store again during an outage (requests meanwhile are
# decided locally at once, instead of each waiting for a timeout).
RETRY_STORE_S = 1.0
# The store's time resolution (Redis PTTL): a wait that ends "just after" is this much longer.
_MS = 0.001

# Lua run by Redis for a correction of a window already counted (TPM after the real usage):
# add ARGV[1] (negative: refund) to the current window's counter, never below 0, keeping its
# expiry; nothing when the counter has expired (the window it counted is gone).
_ADJUST_LUA = """
if redis.call('pttl', KEYS[1]) <= 0 then return 0 end
local value = redis.call('incrby', KEYS[1], ARGV[1])
if value < 0 then redis.call('set', KEYS[1], 0, 'KEEPTTL') return 0 end
return value
"""


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``limit`` units of ``kind`` (requests or tokens) in any ``window_s`` seconds."""

    kind: str
    limit: int
    window_s: int = 60

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"quota kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.limit < 1 or self.window_s < 1:
            raise ConfigError(f"quota: limit and window must be positive, got {self}")

    @property
    def per(self) -> str:
        """``RPM`` or ``TPM`` for a one-minute window, else e.g. ``requests per 10 s``."""
        if self.window_s == 60:
            return "RPM" if self.kind == "requests" else "TPM"
        return f"{self.kind} per {self.window_s} s"


@dataclass(frozen=True, slots=True)
class Charge:
    """What one request costs against one quota of one subject (an API key, a model...)."""

    # Names the counter, e.g. ("key", "team-a") or ("model", "gpt-4o"); with the quota's kind
    # and limit it is the counter's key in the store.
    subject: tuple[str, ...]
    quota: Quota
    # Units this request takes: 1 for requests, the estimated tokens for tokens.
    cost: int


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one charge's quota stands: what is left and when it is free again."""

    charge: Charge
    # The limit enforced: the quota's, or this replica's share of it while the store is away.
    limit: int
    # Units still available in the window (after this request when it was admitted).
    remaining: int
    # Seconds until the window holds nothing (OpenAI's x-ratelimit-reset-*).
    reset_s: float
    # Seconds until this charge's cost would fit (0 when it fits now).
    retry_after_s: float

    @property
    def used(self) -> int:
        """Units counted in the window."""
        return self.limit - self.remaining


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to :meth:`RateLimiter.acquire`: admitted, or the first quota that refused."""

    # The refusing quota's standing; None when every charge was counted.
    refused: Standing | None
    # Decided on this replica's share because the store did not answer.
    local: bool = False

    @property
    def allowed(self) -> bool:
        """Whether the request may go on."""
        return self.refused is None


class _Counters:
    """One storage and its strategy, with the items (limit objects) built once per quota.

    ``adjust_script``: the Redis script of :data:`_ADJUST_LUA` and ``prefix`` the storage's
    key prefix, for a Redis storage; None for a memory storage.
    """

    def __init__(
        self, storage: Storage, share: int = 1, adjust_script: Any = None, prefix: str = ""
    ) -> None:
        self.storage = storage
        self.strategy = SlidingWindowCounterRateLimiter(storage)
        self._share = share
        self._items: dict[Quota, RateLimitItem] = {}
        self._script = adjust_script
        self._prefix = prefix

    def limit(self, quota: Quota) -> int:
        """The quota's limit as this storage enforces it (a replica's share locally)."""
        return max(1, quota.limit // self._share)

    def item(self, quota: Quota) -> RateLimitItem:
        item = self._items.get(quota)
        if item is None:
            item = RateLimitItemPerSecond(self.limit(quota), quota.window_s)
            self._items[quota] = item
        return item

    def key(self, charge: Charge) -> str:
        return self.item(charge.quota).key_for(*charge.subject, charge.quota.kind)

    async def hit(self, charge: Charge) -> bool:
        return await self.strategy.hit(
            self.item(charge.quota), *charge.subject, charge.quota.kind, cost=charge.cost
        )

    async def standing(self, charge: Charge) -> Standing:
        """The window of ``charge`` now, read from the counters (one round trip on Redis)."""
        window = charge.quota.window_s
        storage = cast(SlidingWindowCounterSupport, self.storage)
        previous, previous_ttl, current, current_ttl = await storage.get_sliding_window(
            self.key(charge), window
        )
        return _standing(
            charge, self.limit(charge.quota), previous, previous_ttl, current, current_ttl
        )

    async def adjust(self, charge: Charge, delta: int) -> None:
        """Add ``delta`` (negative: give back) to the current window of ``charge``."""
        if self._script is not None:
            # limits keeps a sliding window's current count at "{key}" (its
            # RedisStorage._current_window_key), under the storage's key prefix.
            await self._script(keys=[f"{self._prefix}:{{{self.key(charge)}}}"], args=[delta])
            return
        storage = self.storage
        assert isinstance(storage, MemoryStorage)
        window = charge.quota.window_s
        # MemoryStorage's windows are fixed slots of the epoch, named by sliding_window_keys.
        _, current = storage.sliding_window_keys(self.key(charge), window, time.time())
        if delta > 0:
            await storage.incr(current, 2 * window, delta)
        else:
            await storage.decr(current, -delta)


def _standing(
    charge: Charge,
    limit: int,
    previous: int,
    previous_ttl: float,
    current: int,
    current_ttl: float,
) -> Standing:
    """A sliding-window counter's standing, by limits' rule: a cost fits when
    ``floor(previous * previous_ttl / window) + current + cost <= limit`` (the previous
    window's count weighs the part of it still inside the sliding window). The current
    window becomes the previous one ``current_ttl - window`` seconds from now."""
    window = charge.quota.window_s
    previous_ttl = min(max(previous_ttl, 0.0), window)
    weighted = math.floor(previous * previous_ttl / window) + current
    remaining = max(0, limit - weighted)
    reset = current_ttl if current else previous_ttl  # then nothing of either is left
    cost = charge.cost
    if weighted + cost <= limit:
        wait = 0.0
    elif cost > limit:
        wait = math.inf  # never fits: the request is larger than the quota
    elif current + cost <= limit:
        # The previous window's weight must fall below what is left (TTLs are in ms).
        wait = previous_ttl - (limit - current - cost + 1) * window / previous + _MS
    else:
        # After the current window ends, its count decays as the previous one's.
        until_shift = max(0.0, current_ttl - window)
        wait = until_shift + max(0.0, window - (limit - cost + 1) * window / current) + _MS
    return Standing(charge, limit, remaining, max(0.0, reset), max(0.0, wait))


class RateLimiter:
    """Sliding-window quotas counted in the store of ``[state]`` (see the module docstring).

    ``replicas``: how many replicas of this service share the limits; each enforces
    ``limit // replicas`` while the store is unreachable. ``clock``: monotonic seconds (for
    the outage's retry schedule).
    """

    def __init__(
        self,
        state: StateConfig,
        *,
        replicas: int = 1,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Raises :class:`ConfigError` when ``state.redis_password_env`` names an unset
        variable or ``replicas`` is not positive."""
        if replicas < 1:
            raise ConfigError(f"replicas: expected at least 1, got {replicas}")
        self.backend = state.backend
        self._clock = clock
        self._timeout = state.operation_timeout_ms / 1000
        self._redis: Any = None
        if state.backend == "redis":
            self._shared = self._redis_counters(state, environ)
        else:
            self._shared = _Counters(MemoryStorage())
        # This replica's share, used only while the store does not answer.
        self._local = _Counters(MemoryStorage(), share=replicas)
        self._down_until = -math.inf  # monotonic time before which the store is not asked
        self._degraded = False
        self._probing = False
        # Decisions taken on this replica's share because the store did not answer.
        self.fallbacks = 0
        # Outages seen (a first failure after the store answered).
        self.outages = 0

    def _redis_counters(self, state: StateConfig, environ: Mapping[str, str] | None) -> _Counters:
        import redis.asyncio as redis_asyncio
        from limits.aio.storage import RedisStorage

        env = os.environ if environ is None else environ
        password: str | None = None
        if state.redis_password_env:
            password = env.get(state.redis_password_env)
            if not password:
                raise ConfigError(
                    f"state.redis_password_env: environment variable "
                    f"{state.redis_password_env} is not set"
                )
        # A bounded pool, as the state store's: a burst waits for a connection.
        pool = redis_asyncio.BlockingConnectionPool.from_url(
            state.redis_url,
            password=password,
            max_connections=state.max_connections,
            timeout=self._timeout,
            socket_connect_timeout=state.connect_timeout_ms / 1000,
            socket_timeout=self._timeout,
            health_check_interval=30,
        )
        prefix = f"{state.key_prefix}ratelimit"
        # limits' type hints name scalar options only; redis-py takes the pool (use_basic).
        options: dict[str, Any] = {"connection_pool": pool}
        storage = RedisStorage(
            "async+" + state.redis_url, implementation="redispy", key_prefix=prefix, **options
        )
        self._redis = redis_asyncio.Redis(connection_pool=pool)
        return _Counters(
            storage, adjust_script=self._redis.register_script(_ADJUST_LUA), prefix=prefix
        )

    def describe(self) -> str:
        """Where the counters live, for start-up lines."""
        if self.backend == "redis":
            return "shared (redis; per-replica shares while it is unreachable)"
        return "this process only (state.backend = embedded)"

    # The store, or this replica's share when it does not answer.

    def _use_store(self) -> bool:
        if self._clock() >= self._down_until:
            if not self._degraded:
                return True
            if not self._probing:  # one request probes; the rest stay local meanwhile
                self._probing = True
                return True
        return False

    def _store_failed(self, exc: BaseException) -> None:
        self._down_until = self._clock() + RETRY_STORE_S
        if not self._degraded:
            self._degraded = True
            self.outages += 1
            log.warning(
                "rate limits: the shared store did not answer (%s); each replica enforces its "
                "share of every limit until it does",
                type(exc).__name__,
            )

    def _store_answered(self) -> None:
        if self._degraded:
            self._degraded = False
            log.warning("rate limits: the shared store answers again; limits are shared again")

    # Public operations.

    async def acquire(self, charges: Sequence[Charge]) -> Verdict:
        """Count ``charges`` in order; stop at the first that does not fit, give back the
        ones counted before it, and return its standing. Never raises for the store."""
        if not charges:
            return Verdict(None)
        if self._use_store():
            try:
                async with asyncio.timeout(self._timeout):
                    refused = await _acquire(self._shared, charges)
            except Exception as exc:  # any store failure: decide locally, never fail
                self._store_failed(exc)
            else:
                self._store_answered()
                return Verdict(refused)
            finally:
                self._probing = False  # also when the caller was cancelled meanwhile
        self.fallbacks += 1
        return Verdict(await _acquire(self._local, charges), local=True)

    async def standings(self, charges: Sequence[Charge]) -> tuple[Standing, ...] | None:
        """Where each of ``charges`` stands now (for response headers); None when the store
        does not answer (the share's counters say nothing about the others')."""
        if not charges:
            return ()
        counters = self._shared if self._clock() >= self._down_until else self._local
        try:
            async with asyncio.timeout(self._timeout):
                return tuple([await counters.standing(charge) for charge in charges])
        except Exception as exc:
            if counters is self._shared:
                self._store_failed(exc)
            return None

    async def peek(self, charges: Iterable[Charge]) -> Standing | None:
        """The first of ``charges`` whose cost does not fit now, without counting anything
        (a dry run); None when all fit or the store does not answer."""
        counters = self._shared if self._clock() >= self._down_until else self._local
        try:
            async with asyncio.timeout(self._timeout):
                for charge in charges:
                    standing = await counters.standing(charge)
                    if standing.retry_after_s > 0:
                        return standing
        except Exception as exc:
            if counters is self._shared:
                self._store_failed(exc)
        return None

    async def adjust(self, charge: Charge, delta: int) -> None:
        """Correct a counted charge by ``delta`` units (the real usage minus the estimate;
        negative gives back), even past the limit; the window keeps its expiry. Best effort:
        nothing when the store does not answer or the window has gone."""
        if delta == 0:
            return
        if self._clock() < self._down_until:
            await self._local.adjust(charge, delta)
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._shared.adjust(charge, delta)
        except Exception as exc:
            self._store_failed(exc)

    def collector(self, name: str, documentation: str) -> Collector:
        """A Prometheus collector of :attr:`fallbacks` as counter ``name`` (``_total``)."""
        return _FallbackCollector(self, name, documentation)

    async def close(self) -> None:
        """Close the store's connections."""
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)


async def _acquire(counters: _Counters, charges: Sequence[Charge]) -> Standing | None:
    """Hit each charge in order; at the first refusal give back the earlier ones."""
    for i, charge in enumerate(charges):
        if not await counters.hit(charge):
            for counted in charges[:i]:
                await counters.adjust(counted, -counted.cost)
            return await counters.standing(charge)
    return None


class _FallbackCollector(Collector):
    def __init__(self, limiter: RateLimiter, name: str, documentation: str) -> None:
        self._limiter = limiter
        self._name = name
        self._documentation = documentation

    def collect(self) -> Iterable[Metric]:
        counter = CounterMetricFamily(self._name, self._documentation)
        counter.add_metric([], self._limiter.fallbacks)
        yield counter


def duration_text(seconds: float) -> str:
    """``seconds`` as OpenAI writes x-ratelimit-reset-* values: ``1s``, ``6m0s``, ``20ms``
    (Go's duration notation, as the API reference's examples show)."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds * 1000) / 1000
    minutes, rest = divmod(whole, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text
