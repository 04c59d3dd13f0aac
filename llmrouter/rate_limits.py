"""Rate limits shared by every replica: sliding-window counters in the shared state store.

The gateway limits each API key (requests and tokens per minute) and the router each model's
and provider's quota, so that it fails over before the provider answers 429. Both count in the
store ``[state]`` names, with the ``limits`` package's sliding-window-counter algorithm and
key layout (:mod:`llmrouter.rate_counters`): with the ``redis`` backend a Lua script checks and
counts a request's charges atomically on the server, so N replicas admit N requests of a limit
of N in total, not N each; the ``embedded`` backend counts in this process (``limits`` memory
storage). Windows expire by Redis' own clock (PTTL), so replicas' clocks need not agree.

With ``lease_percent`` (the gateway's per-key limits), each replica leases a slice of a
large limit at a time and admits from it in process (:mod:`llmrouter.rate_leases`: no
over-admission, at most one slice per replica unused).

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
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from .config import ConfigError
from .rate_counters import Counters, MemoryCounters, RedisCounters
from .rate_leases import Leases
from .rate_values import KINDS, Charge, Quota, Standing, duration_text, standing
from .shared_state import StateConfig, redis_pool
from .values import frozen

__all__ = [
    "KINDS",
    "RETRY_STORE_S",
    "Charge",
    "Quota",
    "RateLimiter",
    "Standing",
    "Verdict",
    "duration_text",
    "standing",
]

log = logging.getLogger(__name__)

# Seconds between attempts to reach the store again during an outage (requests meanwhile are
# decided locally at once, instead of each waiting for a timeout).
RETRY_STORE_S = 1.0


@frozen  # one per request (llmrouter.values: no run-time guard on a hot path)
class Verdict:
    """The answer to :meth:`RateLimiter.acquire`: admitted, or the first quota that refused."""

    # The refusing quota's standing; None when every charge was counted.
    refused: Standing | None
    # Every charge's standing after the decision, in order (for x-ratelimit headers).
    standings: tuple[Standing, ...] = ()
    # Decided on this replica's share because the store did not answer.
    local: bool = False

    @property
    def allowed(self) -> bool:
        """Whether the request may go on."""
        return self.refused is None


class RateLimiter:
    """Sliding-window quotas counted in the store of ``[state]`` (see the module docstring).

    ``replicas``: how many replicas of this service share the limits; each enforces
    ``limit // replicas`` while the store is unreachable. ``lease_percent``: above 0, the
    slice of each limit a lease holds (:mod:`llmrouter.rate_leases`); 0: every request is
    counted in the store. ``clock``: monotonic seconds (the outage's retry schedule, leases).
    """

    def __init__(
        self,
        state: StateConfig,
        *,
        replicas: int = 1,
        lease_percent: float = 0.0,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Raises :class:`ConfigError` when ``state.redis_password_env`` names an unset
        variable, ``replicas`` is not positive or ``lease_percent`` is not in [0, 100]."""
        if replicas < 1:
            raise ConfigError(f"replicas: expected at least 1, got {replicas}")
        if not 0 <= lease_percent <= 100:
            raise ConfigError(f"lease_percent: expected 0 to 100, got {lease_percent}")
        self.leases = Leases(lease_percent, clock) if lease_percent > 0 else None
        self.backend = state.backend
        self._clock = clock
        self._timeout = state.operation_timeout_ms / 1000
        self._redis: Any = None
        self._shared: Counters
        if state.backend == "redis":
            self._shared = self._redis_counters(state, environ)
        else:
            self._shared = MemoryCounters()
        # This replica's share, used only while the store does not answer.
        self._local = MemoryCounters(share=replicas)
        self._down_until = -math.inf  # monotonic time before which the store is not asked
        self._degraded = False
        self._probing = False
        # Decisions taken on this replica's share because the store did not answer.
        self.fallbacks = 0
        # Outages seen (a first failure after the store answered).
        self.outages = 0

    def _redis_counters(
        self, state: StateConfig, environ: Mapping[str, str] | None
    ) -> RedisCounters:
        import redis.asyncio as redis_asyncio
        from limits.aio.storage import RedisStorage

        # The same bounded pool as the state store's (llmrouter.shared_state.redis_pool).
        pool = redis_pool(state, environ)
        prefix = f"{state.key_prefix}ratelimit"
        # limits' type hints name scalar options only; redis-py takes the pool (use_basic).
        options: dict[str, Any] = {"connection_pool": pool}
        storage = RedisStorage(
            "async+" + state.redis_url, implementation="redispy", key_prefix=prefix, **options
        )
        self._redis = redis_asyncio.Redis(connection_pool=pool)
        return RedisCounters(storage, self._redis, prefix, self._timeout)

    def describe(self) -> str:
        """Where the counters live (and the leases' slice), for start-up lines."""
        if self.backend == "redis":
            where = "shared (redis; per-replica shares while it is unreachable)"
        else:
            where = "this process only (state.backend = embedded)"
        if self.leases is not None:
            where += f", leased {self.leases.percent:g} % of a limit at a time"
        return where

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

    def take(self, charges: Sequence[Charge]) -> tuple[Standing, ...] | None:
        """Admit ``charges`` from this replica's live leases, at once (no store call): their
        standings; None when a lease is missing or short (then :meth:`acquire`). Counted in
        the store when leased, so admitted here even while the store is away."""
        return None if self.leases is None else self.leases.take(charges)

    async def acquire(self, charges: Sequence[Charge]) -> Verdict:
        """Count all of ``charges`` or none: the first that does not fit refuses the request.
        Never raises for the store (its failure is decided on this replica's share)."""
        if not charges:
            return Verdict(None)
        leases = self.leases
        if leases is not None:
            # Counted in the store when leased: admitted here even while it is away.
            leased = leases.take(charges)
            if leased is not None:
                return Verdict(None, leased)
        if self._use_store():
            extras = leases.wanted(charges) if leases is not None else ()
            try:
                counted = await self._shared.acquire(charges, extras)
            except BaseException as exc:  # any store failure: decide locally, never fail
                if leases is not None:
                    leases.failed(charges, extras)
                if not isinstance(exc, Exception):
                    raise
                self._store_failed(exc)
            else:
                self._store_answered()
                standings = counted.standings
                if leases is not None:
                    standings = leases.granted(
                        standings, extras, counted.granted, counted.window_ends_s
                    )
                return Verdict(counted.refused, standings)
            finally:
                self._probing = False  # also when the caller was cancelled meanwhile
        self.fallbacks += 1
        counted = await self._local.acquire(charges)
        return Verdict(counted.refused, counted.standings, local=True)

    async def standings(self, charges: Sequence[Charge]) -> tuple[Standing, ...] | None:
        """Where each of ``charges`` stands now, counting nothing; None when the store does
        not answer."""
        counters = self._shared if self._clock() >= self._down_until else self._local
        try:
            async with asyncio.timeout(self._timeout):
                return tuple([await counters.standing(charge) for charge in charges])
        except Exception as exc:
            self._store_failed(exc)
            return None

    async def peek(self, charges: Iterable[Charge]) -> Standing | None:
        """The first of ``charges`` whose cost does not fit now, counting nothing (a dry
        run); None when all fit or the store does not answer."""
        found = await self.standings(list(charges))
        return next((s for s in found or () if s.retry_after_s > 0), None)

    def absorb(self, charge: Charge, delta: int) -> int:
        """Correct ``charge`` by ``delta`` within this replica's live lease of its quota, at
        once; what is left for :meth:`adjust` (``delta`` itself without a lease)."""
        return delta if self.leases is None else self.leases.adjust(charge, delta)

    async def adjust(self, charge: Charge, delta: int) -> None:
        """Correct a counted charge by ``delta`` units (the real usage minus the estimate;
        negative gives back, never below 0), even past the limit; the window keeps its
        expiry. A live lease of the quota absorbs what it can first (:meth:`absorb`). Best
        effort: nothing when the store does not answer or the window has gone."""
        delta = self.absorb(charge, delta)
        if delta == 0:
            return
        if self._clock() < self._down_until:
            await self._local.adjust(charge, delta)
            return
        try:
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


class _FallbackCollector(Collector):
    def __init__(self, limiter: RateLimiter, name: str, documentation: str) -> None:
        self._limiter = limiter
        self._name = name
        self._documentation = documentation

    def collect(self) -> Iterable[Metric]:
        counter = CounterMetricFamily(self._name, self._documentation)
        counter.add_metric([], self._limiter.fallbacks)
        yield counter
