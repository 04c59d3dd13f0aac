"""Live per-model statistics: EWMA latency, success rate, last success and failure.

Held by the registry next to each model's breaker; routing updates and reads them. (The
metrics service's provider health is a query over the ledger, not this.)"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["ModelStats"]

# Weight of the newest latency sample in the moving average.
_ALPHA = 0.2
# Outcomes remembered for the success rate.
_RECENT = 100


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
