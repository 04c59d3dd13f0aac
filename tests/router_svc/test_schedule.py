"""The attempt schedule on injected clocks: per-model retry budgets, timeouts that fail over at
once, breakers opened by the request's own failure, and what counts as a fallback.

State carries over: each test drives several requests' schedules over one registry and one set
of budgets, the way a router process does."""

from __future__ import annotations

from collections.abc import Sequence

from router_svc.config import ModelConfig, ProviderConfig
from router_svc.errors import (
    AllCandidatesFailed,
    ContentFiltered,
    ProviderError,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from router_svc.policies import BreakerPolicy, RetryPolicy
from router_svc.providers import create_provider
from router_svc.registry import Registry
from router_svc.routing.policy import Candidate
from router_svc.routing.retry import RetryBudgets
from router_svc.routing.schedule import Pacing, Planned, Schedule, Timing


class Clock:
    """Monotonic seconds that move only when a backoff is slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Router:
    """A registry and the pacing of one process; :meth:`serve` walks one request."""

    def __init__(
        self,
        names: str,
        retry: RetryPolicy,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        self.clock = Clock()
        provider = create_provider(ProviderConfig(name="sim", kind="simulated"))
        models = [
            ModelConfig(
                name=n, provider="sim", input_price_per_million=0, output_price_per_million=0
            )
            for n in names
        ]
        self.registry = Registry(
            models, {"sim": provider}, breaker_policy=breaker, clock=self.clock
        )
        self.names = names
        self.budgets = RetryBudgets(retry.budget_max_tokens, retry.budget_token_ratio)
        timing = Timing(self.clock, self.clock, self.clock.sleep, lambda: 0.5)
        self.pacing = Pacing(retry, self.budgets, timing)

    async def serve(
        self, outcome: dict[str, Sequence[ProviderError | None]]
    ) -> tuple[list[Planned], Schedule]:
        """Walk a request whose attempts on model ``m`` end with ``outcome[m]`` in turn (None:
        success; the last one repeats), reporting each like the engine does (AttemptOutcome:
        only failures about the model's health count against its breaker, only retryable
        ones take a retry-budget token)."""
        entries = [self.registry.get(n) for n in self.names]
        candidates = [Candidate(e, 0.0, "chain") for e in entries if e is not None]
        schedule = Schedule(candidates, self.clock.now + 60, self.pacing)
        seen: dict[str, int] = {}
        plans: list[Planned] = []
        failure: ProviderError | None = None
        while (planned := await schedule.next(failure)) is not None:
            plans.append(planned)
            name = planned.entry.name
            results = outcome.get(name, [None])
            result = results[min(seen.get(name, 0), len(results) - 1)]
            seen[name] = seen.get(name, 0) + 1
            if result is None:
                planned.entry.breaker.record_success()
                self.budgets.of(name).on_success()
                return plans, schedule
            if result.counts_against_breaker:
                planned.entry.breaker.record_failure()
            else:
                planned.entry.breaker.record_release()
            if result.retryable:
                self.budgets.of(name).on_failure()
            failure = result
        return plans, schedule


DOWN = UpstreamUnavailable("down", http_status=503)
LIMITED = RateLimited("slow down", http_status=429)
NO_BREAKER = BreakerPolicy(consecutive_failures=10**6, min_calls=10**6)


def models_of(plans: list[Planned]) -> str:
    return "".join(p.entry.name for p in plans)


async def test_a_spent_budget_fails_over_at_once_and_never_refuses_another_model() -> None:
    router = Router("abc", RetryPolicy(attempts_per_model=3), NO_BREAKER)
    chain = {"a": [DOWN], "b": [LIMITED], "c": [None]}
    # a and b fail every call. Their budgets (10 tokens, retries while above 5) allow the first
    # requests to retry them; then only first attempts, and every request is served by c.
    walked = [models_of((await router.serve(chain))[0]) for _ in range(6)]
    assert walked[0] == "aaabbbc"
    assert walked[1] == "aabbc"  # each budget reaches 5 during this request
    assert walked[2:] == ["abc"] * 4
    # The refusals cost no backoff: only retries the budgets allowed were slept.
    assert len(router.clock.slept) == 2 + 2 + 1 + 1


async def test_a_spent_budget_is_not_the_clients_error() -> None:
    router = Router("ab", RetryPolicy(attempts_per_model=2), NO_BREAKER)
    for _ in range(8):
        plans, schedule = await router.serve({"a": [DOWN], "b": [DOWN]})
    assert models_of(plans) == "ab"
    error = schedule.give_up()
    assert isinstance(error, AllCandidatesFailed)
    assert error.reason == "ALL_MODELS_FAILED"
    # Each model named with why it did not answer, and why it was not retried.
    assert error.message == (
        "all 2 attempts failed (a: UPSTREAM_UNAVAILABLE, b: UPSTREAM_UNAVAILABLE, "
        "a: retry budget spent, b: retry budget spent)"
    )
    assert error.retry_after == 1.0


async def test_budgets_recover_with_successes() -> None:
    router = Router("ab", RetryPolicy(attempts_per_model=2), NO_BREAKER)
    for _ in range(5):
        await router.serve({"a": [DOWN], "b": [None]})
    assert not router.budgets.of("a").allows_retry()
    assert router.budgets.of("b").allows_retry()
    # 3 tokens left (the first 2 requests' retries and 5 failures took 7). a recovers: each
    # success refunds 0.1 token; with more than 6, a failure leaves enough to retry a again.
    assert router.budgets.of("a").tokens == 3
    for _ in range(31):
        plans, _ = await router.serve({"a": [None]})
        assert models_of(plans) == "a"
    plans, _ = await router.serve({"a": [DOWN, None]})
    assert models_of(plans) == "aa"


async def test_a_timeout_fails_over_at_once() -> None:
    router = Router("ab", RetryPolicy(attempts_per_model=3), NO_BREAKER)
    late = UpstreamTimeout("a did not send its first token in time")
    for _ in range(3):
        plans, _ = await router.serve({"a": [late], "b": [None]})
        assert models_of(plans) == "ab"
        assert plans[1].backoff_s == 0
        assert plans[1].fallback_reason == "UPSTREAM_TIMEOUT"
    assert router.clock.slept == []


async def test_the_failure_that_opens_a_breaker_fails_over() -> None:
    router = Router("ab", RetryPolicy(attempts_per_model=2), BreakerPolicy())
    walked = [(await router.serve({"a": [DOWN], "b": [None]}))[0] for _ in range(3)]
    # The 3rd failure in a row (request 2's first attempt) opens a: that request goes to b, and
    # so does the next one without calling a.
    assert [models_of(plans) for plans in walked] == ["aab", "ab", "b"]
    # That one's only attempt is still a fallback from a, because a's circuit is open.
    (skipped,) = walked[2]
    assert (skipped.number, skipped.fallback, skipped.fallback_from) == (1, True, "a")
    assert skipped.fallback_reason == "BREAKER_OPEN"


async def test_a_model_skipped_by_the_decision_for_its_open_circuit_is_fallen_back_from() -> None:
    router = Router("b", RetryPolicy(attempts_per_model=2), NO_BREAKER)
    entry = router.registry.get("b")
    assert entry is not None
    schedule = Schedule(
        [Candidate(entry, 0.0, "fallback 1 (config)")],
        router.clock.now + 60,
        router.pacing,
        passed_over="a",
    )
    first = await schedule.next()
    assert first is not None
    assert (first.entry.name, first.fallback, first.fallback_from) == ("b", True, "a")
    assert first.fallback_reason == "BREAKER_OPEN"
    # A retry of b is no fallback, and its reason is b's own failure.
    second = await schedule.next(DOWN)
    assert second is not None
    assert (second.fallback, second.fallback_reason) == (False, "UPSTREAM_UNAVAILABLE")


async def test_only_a_change_of_model_is_a_fallback() -> None:
    router = Router("abc", RetryPolicy(attempts_per_model=2), NO_BREAKER)
    plans, _ = await router.serve({"a": [DOWN], "b": [DOWN, None]})
    assert [(p.entry.name, p.fallback, p.fallback_from) for p in plans] == [
        ("a", False, ""),
        ("a", False, ""),
        ("b", True, "a"),
        ("b", False, ""),  # a retry of b, not a fallback from b
    ]
    assert [p.fallback_reason for p in plans] == [
        "",
        "UPSTREAM_UNAVAILABLE",
        "UPSTREAM_UNAVAILABLE",
        "UPSTREAM_UNAVAILABLE",
    ]


async def test_a_failure_that_is_not_retried_takes_no_retry_budget() -> None:
    router = Router("ab", RetryPolicy(attempts_per_model=2), NO_BREAKER)
    refused = ContentFiltered("a refused the content", http_status=400)
    for _ in range(8):
        plans, schedule = await router.serve({"a": [refused]})
        assert models_of(plans) == "a"  # ends the request: no other model can help
        assert schedule.give_up() is not None
    # The refusals said nothing about a's health: a failure of a is still retried.
    assert router.budgets.of("a").tokens == 10
    plans, _ = await router.serve({"a": [DOWN, None]})
    assert models_of(plans) == "aa"
