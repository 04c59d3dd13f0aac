"""Each API key's recent requests: a sliding window of outcomes and latencies.

Adding a request costs O(1) amortised (expired requests leave from the front; errors and slow
requests are counted as they come and go), so the check runs on every request without a sort.
The p95 test is exact for nearest-rank p95: p95 exceeds ``T`` exactly when more than
``n - ceil(0.95 n)`` of the ``n`` requests took longer than ``T``.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass

__all__ = ["KeyWindows", "WindowStats"]


@dataclass(frozen=True, slots=True)
class WindowStats:
    """One key's window after a request: requests, failed ones, ones slower than the
    latency threshold."""

    requests: int
    errors: int
    slow: int

    @property
    def error_rate(self) -> float:
        """Failed requests over all requests (0 for none)."""
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p95_exceeded(self) -> bool:
        """Whether the nearest-rank p95 latency is above the latency threshold."""
        return self.requests > 0 and self.slow > self.requests - math.ceil(0.95 * self.requests)


class _Window:
    __slots__ = ("errors", "samples", "slow")

    def __init__(self) -> None:
        # (monotonic seconds, ok, latency seconds)
        self.samples: deque[tuple[float, bool, float]] = deque()
        self.errors = 0
        self.slow = 0


class KeyWindows:
    """Sliding windows of ``window_s`` seconds, one per key.

    Bounded: at most ``max_keys`` keys (the least recently seen forgotten first) and
    ``max_samples`` requests per key (the oldest leave first).
    """

    def __init__(
        self,
        window_s: float,
        slow_s: float,
        *,
        max_keys: int = 10_000,
        max_samples: int = 10_000,
    ) -> None:
        """``slow_s``: the latency threshold in seconds (0: nothing counts as slow)."""
        self._window_s = window_s
        self._slow_s = slow_s if slow_s > 0 else math.inf
        self._max_keys = max_keys
        self._max_samples = max_samples
        self._keys: OrderedDict[str, _Window] = OrderedDict()

    def add(self, key: str, ok: bool, latency_s: float, now: float) -> WindowStats:
        """Record one finished request of ``key`` at monotonic time ``now``; the window after."""
        window = self._keys.get(key)
        if window is None:
            window = self._keys[key] = _Window()
            if len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        samples = window.samples
        samples.append((now, ok, latency_s))
        window.errors += not ok
        window.slow += latency_s > self._slow_s
        horizon = now - self._window_s
        while samples and (samples[0][0] <= horizon or len(samples) > self._max_samples):
            _, was_ok, took = samples.popleft()
            window.errors -= not was_ok
            window.slow -= took > self._slow_s
        return WindowStats(len(samples), window.errors, window.slow)

    def p95(self, key: str) -> float:
        """The key's nearest-rank p95 latency in seconds (0 when unknown); sorts the window,
        so called only when an alert fires."""
        window = self._keys.get(key)
        if window is None or not window.samples:
            return 0.0
        latencies = sorted(took for _, _, took in window.samples)
        return latencies[math.ceil(0.95 * len(latencies)) - 1]
