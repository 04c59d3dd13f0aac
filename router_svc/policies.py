"""The retry and breaker rules: config sections that are also the engine's policy objects.

One definition, one set of docs: ``[router.retry]`` and ``[router.breaker]`` load into these
dataclasses, and the breaker and the failover engine use them as they are. They live below both
:mod:`router_svc.config` and :mod:`router_svc.routing`, so config imports nothing from routing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

from llmrouter.config import ConfigError

__all__ = ["BreakerPolicy", "RetryPolicy"]

_log = logging.getLogger(__name__)


def _check_ranges(
    policy: RetryPolicy | BreakerPolicy, rules: tuple[tuple[str, str, float], ...]
) -> None:
    """Refuse a value outside its range, naming the key: each rule is (field, op, bound) with
    op ">=" or ">" (an unchecked 0 or negative retry count, say, silently turned retries or
    the breaker off)."""
    for name, op, bound in rules:
        value = getattr(policy, name)
        if (op == ">=" and value < bound) or (op == ">" and value <= bound):
            raise ConfigError(f"{name}: must be {op} {bound:g}, got {value}")


def _check_finite(policy: RetryPolicy | BreakerPolicy) -> None:
    """Refuse inf and nan in every number of ``policy``, naming the key (config loading refuses
    them too; this also covers policies built in code)."""
    for f in fields(policy):
        value = getattr(policy, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{f.name}: must be a finite number, got {value}")


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
    # Retry budget (gRFC A6), one bucket per model: tokens in each; retries of a model stop
    # while its bucket is at half or below (first attempts on a model are never refused).
    budget_max_tokens: float = 10.0
    # Retry budget: tokens a success on the model gives back (a retryable failure takes 1).
    budget_token_ratio: float = 0.1
    # Streams: after the first token, a gap longer than this between chunks is a stall: the
    # answer is continued on a model that can continue it, or ends with an error (0: only the
    # deadline bounds the wait).
    stream_idle_timeout_s: float = 10.0
    # Hedging (router_svc.routing.hedge): seconds an attempt may go without its answer (or,
    # streams, its first token) before the next candidate starts beside it (0: off).
    hedge_after_s: float = 0.0

    def __post_init__(self) -> None:
        _check_finite(self)
        _check_ranges(
            self,
            (
                ("attempts_per_model", ">=", 1),
                ("backoff_base_s", ">=", 0),
                ("backoff_max_s", ">=", 0),
                ("max_retry_after_s", ">=", 0),
                ("min_attempt_s", ">=", 0),
                ("ttft_timeout_s", ">", 0),
                ("attempt_timeout_s", ">=", 0),
                ("budget_max_tokens", ">", 0),
                ("budget_token_ratio", ">=", 0),
            ),
        )
        if self.backoff_max_s < self.backoff_base_s:
            raise ConfigError(
                f"backoff_max_s: must be at least backoff_base_s ({self.backoff_base_s}), "
                f"got {self.backoff_max_s}"
            )
        if not (math.isfinite(self.hedge_after_s) and self.hedge_after_s >= 0):
            raise ConfigError(
                f"hedge_after_s: must be a finite number >= 0, got {self.hedge_after_s}"
            )


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens (ejects its model) and how it recovers (the ``[router.breaker]``
    config section); recovery follows Envoy's outlier ejection."""

    # Failures in a row that open the breaker.
    consecutive_failures: int = 3
    # Failure rate (0..1] over the window that opens the breaker.
    failure_rate: float = 0.5
    # Sliding window for the failure rate, in seconds.
    window_s: float = 60.0
    # Fewest calls in the window before the rate counts.
    min_calls: int = 10
    # Seconds of a first ejection; the n-th ejection in a row lasts n times this.
    base_ejection_s: float = 5.0
    # Longest ejection, in seconds, however many ejections in a row.
    max_ejection_s: float = 60.0
    # Each this many seconds a model stays closed, its count of ejections in a row drops by one.
    ejection_decay_s: float = 30.0
    # Concurrent probes admitted when half-open (and successes needed to close).
    half_open_probes: int = 1
    # Seconds after which a probe that never reported counts as failed.
    probe_timeout_s: float = 30.0
    # Deprecated (was: seconds open before probing, default 300). When set, it is the longest
    # ejection: ``max_ejection_s`` takes its value and ``base_ejection_s`` is capped by it; it
    # then reads None. Logged as a warning at start.
    cooldown_s: float | None = None

    def __post_init__(self) -> None:
        _check_finite(self)
        _check_ranges(
            self,
            (("consecutive_failures", ">=", 1), ("failure_rate", ">", 0), ("window_s", ">", 0)),
        )
        if self.failure_rate > 1:
            raise ConfigError(f"failure_rate: must be at most 1, got {self.failure_rate}")
        if self.min_calls < 1:
            raise ConfigError(f"min_calls: must be at least 1, got {self.min_calls}")
        if self.cooldown_s is not None:
            cooldown = self.cooldown_s
            object.__setattr__(self, "max_ejection_s", cooldown)
            object.__setattr__(self, "base_ejection_s", min(self.base_ejection_s, cooldown))
            object.__setattr__(self, "cooldown_s", None)
            _log.warning(
                "router.breaker.cooldown_s is deprecated: read as max_ejection_s = %s "
                "(base_ejection_s = %s); set base_ejection_s and max_ejection_s instead",
                cooldown,
                self.base_ejection_s,
            )
        for name in ("base_ejection_s", "max_ejection_s", "ejection_decay_s", "probe_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.max_ejection_s < self.base_ejection_s:
            raise ConfigError(
                f"max_ejection_s: must be at least base_ejection_s ({self.base_ejection_s}), "
                f"got {self.max_ejection_s}"
            )
        if self.half_open_probes < 1:
            raise ConfigError(f"half_open_probes: must be at least 1, got {self.half_open_probes}")
