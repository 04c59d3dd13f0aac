"""A circuit breaker per model on an injected clock, recovering by outlier ejection (held by the
registry, read by routing).

CLOSED -> OPEN (the model is *ejected*) after ``consecutive_failures`` failures in a row, or
when at least ``min_calls`` calls in the last ``window_s`` seconds failed at a rate >=
``failure_rate``. OPEN rejects without calling. Recovery follows Envoy's outlier detection
(architecture overview, "Outlier detection", ejection algorithm): an ejection lasts
``base_ejection_s`` times the number of ejections in a row, at most ``max_ejection_s``; the
count drops by one for every ``ejection_decay_s`` the model then stays closed. When an ejection
ends the breaker is HALF_OPEN and admits ``half_open_probes`` concurrent probes (one by
default): a failure re-ejects it (for longer), ``half_open_probes`` successes close it. A probe
that has not reported within ``probe_timeout_s`` counts as failed.

Replicas share breakers through two optional hooks (set by :mod:`router_svc.shared_health`,
None in a single process): ``listener`` hears this breaker's own transitions (open with the
ejection's length, close, operator reset) so they can be published, and ``probe_gate`` says
whether this replica holds the half-open probe lock; :meth:`apply_open` and
:meth:`apply_close` take in what another replica decided, without calling the listener.
"""

from __future__ import annotations

import enum
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from .policies import BreakerPolicy

__all__ = ["BreakerListener", "BreakerState", "CircuitBreaker"]


class BreakerState(enum.Enum):
    """Where the breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# The states as module constants: reading an Enum member through its class costs about a
# microsecond on CPython 3.11, and the breaker is asked for its state several times a request.
_CLOSED, _OPEN, _HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class BreakerListener(Protocol):
    """Hears the transitions a breaker decides itself (not those applied from elsewhere)."""

    def opened(self, breaker: CircuitBreaker, ejection_s: float) -> None:
        """The breaker opened (or reopened after a probe) for ``ejection_s`` seconds."""
        ...

    def closed(self, breaker: CircuitBreaker, *, reset: bool) -> None:
        """The breaker closed: a probe succeeded, or an operator reset it (``reset``)."""
        ...


class CircuitBreaker:
    """Breaker state machine. Callers ask :meth:`allow`, then report the outcome."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._window: deque[tuple[float, bool]] = deque()
        self._opened_at = 0.0
        self._ejections = 0  # ejections in a row (decays while closed)
        self._healthy_since = clock()  # when the ejection count last decayed (or closed)
        self._probes: list[float] = []  # start times of probes in flight
        self._probe_successes = 0
        self.transitions = 0
        # Set by router_svc.shared_health when replicas share breakers (see the module doc).
        self.listener: BreakerListener | None = None
        self.probe_gate: Callable[[], bool] | None = None

    @property
    def state(self) -> BreakerState:
        """Current state, after applying any ejection end, probe timeout or decay that is due."""
        if self._state is _CLOSED and not self._ejections:
            return _CLOSED  # nothing can be due: the common case, without reading the clock
        now = self._clock()
        if self._state is _OPEN and now - self._opened_at >= self.ejection_s:
            self._move(_HALF_OPEN)
            self._probes, self._probe_successes = [], 0
        if self._state is _HALF_OPEN and any(
            now - started >= self.policy.probe_timeout_s for started in self._probes
        ):
            self._open(now)
        if self._state is _CLOSED and self._ejections:
            steps = int((now - self._healthy_since) // self.policy.ejection_decay_s)
            if steps:
                self._ejections = max(self._ejections - steps, 0)
                self._healthy_since += steps * self.policy.ejection_decay_s
        return self._state

    @property
    def ejections(self) -> int:
        """Ejections in a row, as decayed so far (0 once the model has stayed healthy)."""
        _ = self.state
        return self._ejections

    @property
    def ejection_s(self) -> float:
        """Length of the current (or, when closed, the last) ejection, in seconds."""
        policy = self.policy
        return min(policy.base_ejection_s * max(self._ejections, 1), policy.max_ejection_s)

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._consecutive

    def retry_after(self) -> float:
        """Seconds until an open breaker admits a probe (0 unless open)."""
        if self.state is not _OPEN:
            return 0.0
        return max(self.ejection_s - (self._clock() - self._opened_at), 0.0)

    def allow(self) -> bool:
        """May a call go out now? In HALF_OPEN a True answer reserves a probe slot."""
        state = self.state
        if state is _CLOSED:
            return True
        if state is _OPEN:
            return False
        if len(self._probes) >= self.policy.half_open_probes:
            return False
        if self.probe_gate is not None and not self.probe_gate():
            return False  # another replica holds the probe lock
        self._probes.append(self._clock())
        return True

    def refusal(self) -> str:
        """Why :meth:`would_allow` says no, in the breaker's actual state (a skip's detail):
        ``circuit open, next probe in 12s``, ``half-open (probe in flight)``, or
        ``half-open (another replica holds the probe)``; "" when it would allow."""
        state = self.state
        if state is _OPEN:
            return f"circuit open, next probe in {self.retry_after():.0f}s"
        if state is _HALF_OPEN:
            if len(self._probes) >= self.policy.half_open_probes:
                return "half-open (probe in flight)"
            if self.probe_gate is not None and not self.probe_gate():
                return "half-open (another replica holds the probe)"
        return ""

    def would_allow(self) -> bool:
        """Like :meth:`allow` without reserving anything (for routing decisions)."""
        state = self.state
        if state is _HALF_OPEN:
            if len(self._probes) >= self.policy.half_open_probes:
                return False
            return self.probe_gate is None or self.probe_gate()
        return state is _CLOSED

    def record_success(self) -> None:
        """Report a successful call."""
        now = self._clock()
        state = self.state
        self._consecutive = 0
        self._note(now, ok=True)
        if state is _HALF_OPEN:
            if self._probes:
                self._probes.pop(0)
            self._probe_successes += 1
            if self._probe_successes >= self.policy.half_open_probes:
                self._move(_CLOSED)
                self._healthy_since = now
                self._window.clear()
                if self.listener is not None:
                    self.listener.closed(self, reset=False)

    def record_failure(self) -> None:
        """Report a failed call."""
        now = self._clock()
        state = self.state
        self._consecutive += 1
        self._note(now, ok=False)
        if state is _HALF_OPEN:
            self._open(now)
            return
        if state is _OPEN:
            return  # a late result of a call admitted before the breaker opened
        if self._consecutive >= self.policy.consecutive_failures or self._rate_exceeded():
            self._open(now)

    def record_release(self) -> None:
        """Report a call that ended without a verdict (cancelled): frees its probe slot."""
        if self._state is _HALF_OPEN and self._probes:
            self._probes.pop(0)

    def reset(self) -> None:
        """Operator reset: close and forget history, ejections included."""
        self._move(_CLOSED)
        self._consecutive = 0
        self._ejections = 0
        self._healthy_since = self._clock()
        self._window.clear()
        self._probes, self._probe_successes = [], 0
        if self.listener is not None:
            self.listener.closed(self, reset=True)

    def apply_open(self, remaining_s: float, ejections: int) -> None:
        """Open as another replica decided: ejected for ``remaining_s`` more seconds, its
        ``ejections``-th in a row. An ejection of ours that ends later is kept."""
        now = self._clock()
        if self.state is _OPEN and self.retry_after() >= remaining_s:
            return
        ceiling = math.ceil(self.policy.max_ejection_s / self.policy.base_ejection_s)
        self._ejections = min(max(ejections, 1), ceiling)
        self._move(_OPEN)
        # Backdate the start so that this ejection's length ends when the other replica's does.
        self._opened_at = now - max(self.ejection_s - remaining_s, 0.0)
        self._probes, self._probe_successes = [], 0

    def apply_close(self, *, reset: bool = False) -> None:
        """Close as another replica decided (its probe succeeded, or an operator ``reset``)."""
        if self.state is _CLOSED and not reset:
            return
        self._move(_CLOSED)
        self._consecutive = 0
        self._healthy_since = self._clock()
        self._window.clear()
        self._probes, self._probe_successes = [], 0
        if reset:
            self._ejections = 0

    def _note(self, now: float, *, ok: bool) -> None:
        self._window.append((now, ok))
        horizon = now - self.policy.window_s
        while self._window and self._window[0][0] < horizon:
            self._window.popleft()

    def _rate_exceeded(self) -> bool:
        calls = len(self._window)
        if calls < self.policy.min_calls:
            return False
        failures = sum(1 for _, ok in self._window if not ok)
        return failures / calls >= self.policy.failure_rate

    def _open(self, now: float) -> None:
        self._move(_OPEN)
        self._opened_at = now
        # Beyond this count the ejection is max_ejection_s anyway: a longer memory would only
        # slow the decay back to short ejections.
        ceiling = math.ceil(self.policy.max_ejection_s / self.policy.base_ejection_s)
        self._ejections = min(self._ejections + 1, ceiling)
        self._probes, self._probe_successes = [], 0
        if self.listener is not None:
            self.listener.opened(self, self.ejection_s)

    def _move(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            self.transitions += 1
