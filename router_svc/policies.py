"""The retry and breaker rules: config sections that are also the engine's policy objects.

One definition, one set of docs: ``[router.retry]`` and ``[router.breaker]`` load into these
dataclasses, and the breaker and the failover engine use them as they are. They live below both
:mod:`router_svc.config` and :mod:`router_svc.routing`, so config imports nothing from routing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmrouter.config import ConfigError

__all__ = ["BreakerPolicy", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry, timing and retry-budget rules (the ``[router.retry]`` config section)."""

    # Attempts against one model before failing over (1 = no retry of the same model).
    attempts_per_model: int = 2
    # First backoff ceiling, in seconds; doubles per retry (full jitter below it).
    backoff_base_s: float = 0.1
    # Largest backoff ceiling, in seconds.
    backoff_max_s: float = 2.0
    # Retry-After hints up to this many seconds are honoured; longer ones fail over at once.
    max_retry_after_s: float = 5.0
    # No attempt starts with less time than this left before the deadline.
    min_attempt_s: float = 0.05
    # Streams: fail over when the first token takes longer than this.
    ttft_timeout_s: float = 15.0
    # Whole answers: fail over when one attempt takes longer than this (0: only the deadline).
    attempt_timeout_s: float = 0.0
    # Retry budget (gRFC A6): tokens in the process-wide bucket; retries stop at half.
    budget_max_tokens: float = 10.0
    # Retry budget: tokens a success gives back (a failure takes 1).
    budget_token_ratio: float = 0.1
    # Hedging (router_svc.routing.hedge): seconds an attempt may go without its answer (or,
    # streams, its first token) before the next candidate starts beside it (0: off).
    hedge_after_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.hedge_after_s) and self.hedge_after_s >= 0):
            raise ConfigError(
                f"hedge_after_s: must be a finite number >= 0, got {self.hedge_after_s}"
            )


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how it recovers."""

    # Failures in a row that open the breaker.
    consecutive_failures: int = 3
    # Failure rate (0..1] over the window that opens the breaker.
    failure_rate: float = 0.5
    # Sliding window for the failure rate, in seconds.
    window_s: float = 60.0
    # Fewest calls in the window before the rate counts.
    min_calls: int = 10
    # Seconds an open breaker waits before admitting probes.
    cooldown_s: float = 300.0
    # Concurrent probes admitted when half-open (and successes needed to close).
    half_open_probes: int = 1
    # Seconds after which a probe that never reported counts as failed.
    probe_timeout_s: float = 30.0
