"""Retries as data: how often, how long to wait, and budgets that stop retry storms."""

from __future__ import annotations

import random
from collections.abc import Callable

from ..policies import RetryPolicy

__all__ = ["RetryBudget", "RetryBudgets", "backoff_delay"]


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
    """gRFC A6 retry throttling of one upstream (one model entry), shared by all requests.

    Each retryable failure of an attempt against the upstream takes one token (a failure that
    is not retried, such as an invalid request, takes none), each success gives back
    ``token_ratio``. While the bucket holds no more than half of ``max_tokens``, *retries of
    this upstream* are refused; a request's first attempt on it never is (like Envoy's retry
    budgets, the budget limits retries, not traffic).
    """

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.tokens = max_tokens

    def allows_retry(self) -> bool:
        """May a request try this upstream again after a failure on it?"""
        return self.tokens > self.max_tokens / 2

    def on_failure(self) -> None:
        """An attempt failed in a way that says the upstream is struggling (a retryable
        failure: the engine calls nothing for the others)."""
        self.tokens = max(self.tokens - 1, 0.0)

    def on_success(self) -> None:
        """An attempt succeeded."""
        self.tokens = min(self.tokens + self.token_ratio, self.max_tokens)

    def reset(self) -> None:
        """Refill the bucket (an operator's reset: the upstream is known to be back)."""
        self.tokens = self.max_tokens


class RetryBudgets:
    """One :class:`RetryBudget` per upstream, by registry model name (made on first use).

    The set of keys is the registry's model names: bounded by the config, not by traffic.
    """

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self._budgets: dict[str, RetryBudget] = {}

    def of(self, model: str) -> RetryBudget:
        """The budget of registry model ``model``."""
        budget = self._budgets.get(model)
        if budget is None:
            budget = self._budgets[model] = RetryBudget(self.max_tokens, self.token_ratio)
        return budget

    def reset(self, model: str) -> None:
        """Refill the budget of registry model ``model``."""
        self.of(model).reset()
