"""Retries as data: how often, how long to wait, and a budget that stops retry storms."""

from __future__ import annotations

import random
from collections.abc import Callable

from ..policies import RetryPolicy

__all__ = ["RetryBudget", "backoff_delay"]


def backoff_delay(
    policy: RetryPolicy,
    retry: int,
    retry_after: float | None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before retry number ``retry`` (1-based) of the same model.

    Full jitter: uniform in [0, min(max, base * 2**(retry-1))]; a Retry-After hint is a floor.
    None means "do not retry this model" (the hint is longer than we are willing to wait).
    """
    if retry_after is not None and retry_after > policy.max_retry_after_s:
        return None
    ceiling = min(policy.backoff_max_s, policy.backoff_base_s * 2.0 ** (retry - 1))
    delay: float = rand() * ceiling
    return max(delay, retry_after or 0.0)


class RetryBudget:
    """gRFC A6 retry throttling shared by all requests of a process.

    Each failed attempt takes one token, each success gives back ``token_ratio``. While the
    bucket holds no more than half of ``max_tokens``, attempts after a request's first are refused.
    """

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.tokens = max_tokens

    def allows_retry(self) -> bool:
        """May a request make another attempt?"""
        return self.tokens > self.max_tokens / 2

    def on_failure(self) -> None:
        """An attempt failed in a way that says the upstream is struggling."""
        self.tokens = max(self.tokens - 1, 0.0)

    def on_success(self) -> None:
        """An attempt succeeded."""
        self.tokens = min(self.tokens + self.token_ratio, self.max_tokens)
