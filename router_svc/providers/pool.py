"""The wait for an upstream connection, made visible.

Each provider has one aiohttp pool of at most ``max_connections`` connections (in use plus idle
kept alive; 0 = no limit). A request that finds them all in use waits for one to come back:
without a sign of it, 1,000 streams to one provider would queue behind the first ``limit``
and look like a slow upstream. :class:`WatchedConnector` counts the requests waiting and times
each wait into :class:`PoolStats` (read by the Prometheus collector at scrape time:
``llmrouter_upstream_connections_waiting``, ``llmrouter_upstream_connection_wait_seconds``) and
puts an ``llmrouter.connection_wait`` event on the current span (the attempt's).

Only a request that waits pays anything: the pool's fast path (a free connection, or room for
a new one) never enters :meth:`WatchedConnector._wait_for_available_connection`, which is
aiohttp's own wait (``TCPConnector.connect``, aiohttp 3.10 and later) wrapped, not changed.
aiohttp's public alternative, a ``TraceConfig`` with ``on_connection_queued_*``, would cost
every request an awaited signal per request chunk and per response chunk.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..telemetry import connection_waited

__all__ = ["WAIT_BUCKETS", "PoolStats", "WatchedConnector"]

# Upper bounds (seconds) of the wait-time histogram's buckets.
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(slots=True)
class PoolStats:
    """One provider's connection pool: its limit, the requests waiting for a connection now,
    and how long those that waited waited (a histogram over :data:`WAIT_BUCKETS`)."""

    # max_connections (0: no limit).
    limit: int
    # Requests waiting for a connection right now.
    waiting: int = 0
    # Requests that waited (their wait ended: a connection, or a timeout or cancel).
    waits: int = 0
    # Their waits added up, in seconds.
    wait_seconds: float = 0.0
    # Waits per bucket of WAIT_BUCKETS (not cumulative), the last one for longer waits.
    buckets: list[int] = field(default_factory=lambda: [0] * (len(WAIT_BUCKETS) + 1))

    def observe(self, seconds: float) -> None:
        """Count one finished wait of ``seconds``."""
        self.waits += 1
        self.wait_seconds += seconds
        self.buckets[bisect_left(WAIT_BUCKETS, seconds)] += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """The histogram as Prometheus buckets: ``(le, count of waits <= le)``, ``+Inf`` last."""
        out: list[tuple[str, int]] = []
        total = 0
        for bound, count in zip((*map(str, WAIT_BUCKETS), "+Inf"), self.buckets, strict=True):
            total += count
            out.append((bound, total))
        return out


class WatchedConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` whose waits for a free connection are counted in ``stats`` and
    reported to the current span, naming ``provider``."""

    def __init__(
        self,
        stats: PoolStats,
        provider: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(limit=stats.limit, **kwargs)
        self._stats = stats
        self._provider = provider
        self._clock = clock

    async def _wait_for_available_connection(self, key: Any, traces: Any) -> None:
        stats = self._stats
        stats.waiting += 1
        started = self._clock()
        acquired = False
        try:
            await super()._wait_for_available_connection(key, traces)
            acquired = True
        finally:
            stats.waiting -= 1
            waited = self._clock() - started
            stats.observe(waited)
            connection_waited(self._provider, waited, stats.limit, acquired=acquired)
