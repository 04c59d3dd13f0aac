"""The values of rate limiting: quotas, what a request is charged, and where a quota stands
(shared by :mod:`llmrouter.rate_limits` and its counters)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import ConfigError
from .values import frozen

__all__ = ["KINDS", "Charge", "Quota", "Standing", "duration_text", "standing"]

# What a quota counts: requests, or tokens (prompt plus completion).
KINDS = ("requests", "tokens")
# The store's time resolution (Redis PTTL): a wait that ends "just after" is this much longer.
_MS = 0.001


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``limit`` units of ``kind`` (requests or tokens) in any ``window_s`` seconds."""

    kind: str
    limit: int
    window_s: int = 60
    # The hash of the fields, computed once: quotas key the counters' and leases' tables on
    # every request.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"quota kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.limit < 1 or self.window_s < 1:
            raise ConfigError(f"quota: limit and window must be positive, got {self}")
        object.__setattr__(self, "_hash", hash((self.kind, self.limit, self.window_s)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def per(self) -> str:
        """``RPM`` or ``TPM`` for a one-minute window, else e.g. ``requests per 10 s``."""
        if self.window_s == 60:
            return "RPM" if self.kind == "requests" else "TPM"
        return f"{self.kind} per {self.window_s} s"


@frozen  # built per request: frozen for the type checker, without the run-time guard
class Charge:
    """What one request costs against one quota of one subject (an API key, a model...)."""

    # Names the counter, e.g. ("key", "team-a") or ("model", "gpt-4o"); with the quota's kind
    # and limit it is the counter's key in the store.
    subject: tuple[str, ...]
    quota: Quota
    # Units this request takes: 1 for requests, the estimated tokens for tokens.
    cost: int


@frozen
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


def standing(
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


def duration_text(seconds: float) -> str:
    """``seconds`` as OpenAI writes x-ratelimit-reset-* values: ``1s``, ``6m0s``, ``20ms``
    (Go's duration notation, as the API reference's examples show)."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds * 1000) / 1000
    minutes, rest = divmod(whole, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text
