"""Live per-model statistics: EWMA latency, success rate, last success and failure.

Held by the registry next to each model's breaker; routing updates and reads them. (The
metrics service's provider health is a query over the ledger, not this.)

Replicas sharing [state] exchange a summary every second (:mod:`router_svc.shared_health`):
each peer's EWMA latency and recent outcomes land in ``peers``, and scoring reads the
merged figures, each replica weighted by its number of samples (a replica that has seen
100 answers counts ten times one that has seen 10)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["ModelStats", "PeerStats"]

# Weight of the newest latency sample in the moving average.
_ALPHA = 0.2
# Outcomes remembered for the success rate.
_RECENT = 100


class PeerStats(NamedTuple):
    """Another replica's summary of one model, as it published it."""

    # Its EWMA latency of successful attempts in seconds (None: no success seen).
    ewma_latency_s: float | None
    # Successes and attempts among its last outcomes (at most 100).
    recent_ok: int
    recent_total: int
    # time.monotonic() on this replica after which the summary is stale and ignored.
    expires: float


@dataclass(slots=True)
class ModelStats:
    """What the router has observed about one model."""

    ewma_latency_s: float | None = None
    last_success_time: float | None = None
    last_failure_time: float | None = None
    last_error_type: str = ""
    successes: int = 0
    failures: int = 0
    _recent: deque[bool] = field(default_factory=lambda: deque(maxlen=_RECENT))
    # Other replicas' latest summaries by replica id (empty in a single process).
    peers: dict[str, PeerStats] = field(default_factory=dict)

    def observe(self, *, ok: bool, latency_s: float, now: float, error_type: str = "") -> None:
        """Record one finished attempt (``now`` is wall-clock time)."""
        self._recent.append(ok)
        if ok:
            self.successes += 1
            self.last_success_time = now
            if self.ewma_latency_s is None:
                self.ewma_latency_s = latency_s
            else:
                self.ewma_latency_s += _ALPHA * (latency_s - self.ewma_latency_s)
        else:
            self.failures += 1
            self.last_failure_time = now
            self.last_error_type = error_type

    @property
    def success_rate(self) -> float | None:
        """Share of the last attempts that succeeded; None before any attempt."""
        if not self._recent:
            return None
        return sum(self._recent) / len(self._recent)

    def summary(self) -> tuple[float | None, int, int]:
        """What this replica publishes: (EWMA latency s, recent successes, recent attempts)."""
        return self.ewma_latency_s, sum(self._recent), len(self._recent)

    def _live_peers(self) -> list[PeerStats]:
        if not self.peers:
            return []
        now = time.monotonic()
        for replica in [r for r, p in self.peers.items() if p.expires <= now]:
            del self.peers[replica]
        return list(self.peers.values())

    @property
    def merged_latency_s(self) -> float | None:
        """EWMA latency over every replica, each weighted by its recent successes (this
        replica's alone when no peer reports); None when nobody has seen a success."""
        peers = self._live_peers()
        if not peers:
            return self.ewma_latency_s
        own_ok = sum(self._recent)
        parts = [(p.ewma_latency_s, p.recent_ok) for p in peers]
        parts.append((self.ewma_latency_s, own_ok))
        known = [(latency, max(weight, 1)) for latency, weight in parts if latency is not None]
        if not known:
            return None
        return sum(latency * weight for latency, weight in known) / sum(w for _, w in known)

    @property
    def merged_success_rate(self) -> float | None:
        """Share of successes over every replica's recent attempts; None before any attempt."""
        peers = self._live_peers()
        ok = sum(self._recent) + sum(p.recent_ok for p in peers)
        total = len(self._recent) + sum(p.recent_total for p in peers)
        return ok / total if total else None
