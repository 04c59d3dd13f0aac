"""Live per-model statistics: EWMA latency, success rate, last success and failure.

Held by the registry next to each model's breaker; routing updates and reads them. (The
metrics service's provider health is a query over the ledger, not this.)

Replicas sharing [state] exchange a summary every second (:mod:`router_svc.shared_health`):
each peer's EWMA latency and recent outcomes land in ``peers``, and scoring reads the
merged figures, each replica weighted by its number of samples (a replica that has seen
100 answers counts ten times one that has seen 10)."""

from __future__ import annotations

import math
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
    # Other replicas' latest summaries by replica id (empty in a single process); changed
    # through set_peer only.
    peers: dict[str, PeerStats] = field(default_factory=dict)
    _recent_ok: int = 0  # successes in _recent, kept as it changes (scoring reads it)
    # The live peers' sums (latency x weight, weights, successes, attempts) and the soonest
    # time one of them goes stale.
    _peer_sums: tuple[float, float, int, int] = (0.0, 0.0, 0, 0)
    _peers_expire: float = math.inf

    def observe(self, *, ok: bool, latency_s: float, now: float, error_type: str = "") -> None:
        """Record one finished attempt (``now`` is wall-clock time)."""
        recent = self._recent
        if len(recent) == recent.maxlen and recent[0]:
            self._recent_ok -= 1
        recent.append(ok)
        self._recent_ok += ok
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
        return self.ewma_latency_s, self._recent_ok, len(self._recent)

    def set_peer(self, replica: str, peer: PeerStats) -> None:
        """Take in ``replica``'s latest summary (replacing its previous one)."""
        self.peers[replica] = peer
        self._aggregate()

    def _aggregate(self) -> None:
        # Done once per summary received, so that scoring reads four numbers, not every peer.
        now = time.monotonic()
        for replica in [r for r, p in self.peers.items() if p.expires <= now]:
            del self.peers[replica]
        weighted = weights = 0.0
        ok = total = 0
        for peer in self.peers.values():
            ok += peer.recent_ok
            total += peer.recent_total
            if peer.ewma_latency_s is not None:
                weight = max(peer.recent_ok, 1)
                weighted += peer.ewma_latency_s * weight
                weights += weight
        self._peer_sums = (weighted, weights, ok, total)
        self._peers_expire = min((p.expires for p in self.peers.values()), default=math.inf)

    def _peer_totals(self) -> tuple[float, float, int, int]:
        if time.monotonic() >= self._peers_expire:
            self._aggregate()  # a peer went quiet: drop its summary
        return self._peer_sums

    @property
    def merged_latency_s(self) -> float | None:
        """EWMA latency over every replica, each weighted by its recent successes (this
        replica's alone when no peer reports); None when nobody has seen a success."""
        if not self.peers:
            return self.ewma_latency_s
        weighted, weights, _, _ = self._peer_totals()
        own = self.ewma_latency_s
        if own is not None:
            weight = max(self._recent_ok, 1)
            weighted += own * weight
            weights += weight
        return weighted / weights if weights else None

    @property
    def merged_success_rate(self) -> float | None:
        """Share of successes over every replica's recent attempts; None before any attempt."""
        _, _, peer_ok, peer_total = self._peer_totals() if self.peers else (0.0, 0.0, 0, 0)
        ok = self._recent_ok + peer_ok
        total = len(self._recent) + peer_total
        return ok / total if total else None
