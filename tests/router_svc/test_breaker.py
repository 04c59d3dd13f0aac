"""Circuit breaker transitions on a fake clock, with hypothesis over random event sequences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from router_svc.breaker import BreakerState, CircuitBreaker
from router_svc.policies import BreakerPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = BreakerPolicy(
    consecutive_failures=3,
    failure_rate=0.5,
    window_s=60,
    min_calls=10,
    cooldown_s=300,
    half_open_probes=2,
    probe_timeout_s=30,
)


def test_defaults_match_the_issue() -> None:
    policy = BreakerPolicy()
    assert policy.consecutive_failures == 3
    assert policy.cooldown_s == 300


def test_opens_after_three_failures_and_recovers_through_probes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now += 299
    assert not breaker.allow()
    assert breaker.retry_after() == 1
    clock.now += 1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert breaker.allow()
    assert not breaker.allow()  # only two probes at once
    breaker.record_success()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_failed_probe_reopens_and_hanging_probe_times_out() -> None:
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 300
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 300
    assert breaker.allow()  # a probe that never reports...
    clock.now += 30
    assert breaker.state is BreakerState.OPEN  # ...counts as failed after probe_timeout_s


def test_failure_rate_opens_without_consecutive_failures() -> None:
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    for i in range(10):
        clock.now += 1
        if i % 2:
            breaker.record_failure()
        else:
            breaker.record_success()
    assert breaker.state is BreakerState.OPEN  # 5 of 10 failed = 50%


def test_old_failures_leave_the_window() -> None:
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    for _ in range(5):
        breaker.record_success()
        breaker.record_failure()
        clock.now += 20
    clock.now += 120
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


class BreakerMachine(RuleBasedStateMachine):
    """Random calls, outcomes and clock moves; invariants every step."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.breaker = CircuitBreaker(POLICY, self.clock)
        self.in_flight = 0
        self.consecutive = 0
        self.opened_at: float | None = None

    @rule()
    def call(self) -> None:
        state = self.breaker.state
        allowed = self.breaker.allow()
        if state is BreakerState.OPEN:
            assert not allowed, "an open breaker must reject"
        if state is BreakerState.CLOSED:
            assert allowed, "a closed breaker must admit"
        if allowed:
            self.in_flight += 1

    @precondition(lambda self: self.in_flight > 0)
    @rule(ok=st.booleans())
    def finish(self, ok: bool) -> None:
        self.in_flight -= 1
        before = self.breaker.state
        if ok:
            self.breaker.record_success()
            self.consecutive = 0
            if before is BreakerState.HALF_OPEN:
                assert self.breaker.state in (BreakerState.HALF_OPEN, BreakerState.CLOSED)
        else:
            self.breaker.record_failure()
            self.consecutive += 1
            if before is BreakerState.HALF_OPEN:
                assert self.breaker.state is BreakerState.OPEN, "a failed probe must re-open"
            if before is BreakerState.CLOSED and self.consecutive >= 3:
                assert self.breaker.state is BreakerState.OPEN

    @rule(seconds=st.floats(min_value=0, max_value=400))
    def wait(self, seconds: float) -> None:
        before = self.breaker.state
        self.clock.now += seconds
        after = self.breaker.state
        if before is BreakerState.CLOSED:
            assert after is BreakerState.CLOSED, "time alone never opens a closed breaker"

    @rule()
    def reset(self) -> None:
        self.breaker.reset()
        self.consecutive = 0
        assert self.breaker.state is BreakerState.CLOSED

    @invariant()
    def open_breakers_wait_their_cooldown(self) -> None:
        if self.breaker.state is BreakerState.OPEN:
            assert 0 < self.breaker.retry_after() <= POLICY.cooldown_s

    @invariant()
    def probes_are_limited(self) -> None:
        if self.breaker.state is BreakerState.HALF_OPEN:
            assert len(self.breaker._probes) <= POLICY.half_open_probes


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
TestBreakerMachine = BreakerMachine.TestCase


@given(st.lists(st.booleans(), min_size=1, max_size=200))
@settings(max_examples=300, deadline=None)
def test_closed_breaker_opens_exactly_when_a_rule_trips(outcomes: list[bool]) -> None:
    """With time frozen, the breaker opens at the first point where either rule holds."""
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    run = 0
    history: list[bool] = []
    for ok in outcomes:
        assert breaker.state is BreakerState.CLOSED
        history.append(ok)
        run = 0 if ok else run + 1
        (breaker.record_success if ok else breaker.record_failure)()
        rate_trips = len(history) >= 10 and history.count(False) / len(history) >= 0.5
        should_open = not ok and (run >= 3 or rate_trips)
        assert (breaker.state is BreakerState.OPEN) == should_open
        if should_open:
            return
