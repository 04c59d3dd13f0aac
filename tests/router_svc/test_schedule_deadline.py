"""The deadline and retries: a retry whose wait would outlast the deadline fails over to the next
model (which needs no wait) instead of failing the request; the request ends only when too
little time is left for any attempt. Whole answers through the engine on scripted models
(.scripted_engine), the schedule's backoff on an injected clock (.test_schedule)."""

from __future__ import annotations

import asyncio

import pytest

from router_svc.errors import DeadlineExceeded, RateLimited, UpstreamUnavailable
from router_svc.policies import RetryPolicy

from .scripted_engine import REQUEST, deadline, outcomes, setup
from .test_schedule import DOWN, NO_BREAKER, Router, models_of


async def test_a_retry_after_past_the_deadline_fails_over_to_a_healthy_model() -> None:
    s = setup("ab", attempts_per_model=2, hedge_after_s=0)
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline(2.0)))
    (a,) = await s.upstream.wait_calls(1)
    # 3 s is under max_retry_after_s (5 s), so a would be retried after it: past the deadline.
    a.fail(RateLimited("a: 429", retry_after=3.0))
    _, b = await s.upstream.wait_calls(2)
    assert b.model == "b"
    b.answer()
    result = await served
    assert (result.entry.name, result.completion.content) == ("b", "from b")
    assert outcomes(s.records) == [(1, "a", "failed", "RATE_LIMITED"), (2, "b", "succeeded", "")]
    won = max(s.records, key=lambda r: r.attempt)
    assert (won.fallback, won.fallback_from, won.fallback_reason) == (True, "a", "RATE_LIMITED")


async def test_too_little_time_for_any_attempt_ends_the_request() -> None:
    s = setup("ab", attempts_per_model=2, hedge_after_s=0, min_attempt_s=0.5)
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline(0.8)))
    (a,) = await s.upstream.wait_calls(1)
    await asyncio.sleep(0.4)  # a answers late: less than min_attempt_s is left
    a.fail(UpstreamUnavailable("a: 503"))
    with pytest.raises(DeadlineExceeded) as raised:
        await served
    assert "a: UPSTREAM_UNAVAILABLE" in raised.value.message
    assert [c.model for c in s.upstream.calls] == ["a"]  # b was not started without time


async def test_a_backoff_past_the_deadline_fails_over_without_waiting() -> None:
    # rand() is 0.5: a retry of a would wait 0.5 * 200 s, past the 60 s deadline.
    retry = RetryPolicy(attempts_per_model=2, backoff_base_s=200, backoff_max_s=200)
    router = Router("ab", retry, NO_BREAKER)
    plans, _ = await router.serve({"a": [DOWN], "b": [None]})
    assert models_of(plans) == "ab"
    assert (plans[1].fallback_from, plans[1].backoff_s) == ("a", 0.0)
    assert router.clock.slept == []
    # A backoff that fits is still waited out on the same model.
    retry = RetryPolicy(attempts_per_model=2, backoff_base_s=20, backoff_max_s=20)
    router = Router("ab", retry, NO_BREAKER)
    plans, _ = await router.serve({"a": [DOWN, None]})
    assert models_of(plans) == "aa"
    assert router.clock.slept == [10.0]


async def test_a_long_retry_after_on_the_last_model_names_it_in_the_error() -> None:
    retry = RetryPolicy(attempts_per_model=2, max_retry_after_s=100)
    router = Router("ab", retry, NO_BREAKER)
    hinted = RateLimited("slow down", http_status=429, retry_after=90.0)
    plans, schedule = await router.serve({"a": [hinted], "b": [hinted]})
    assert models_of(plans) == "ab"
    error = schedule.give_up()
    assert error.reason == "ALL_MODELS_RATE_LIMITED"
    assert error.message == (
        "every model is rate limited (a: RATE_LIMITED, b: RATE_LIMITED, "
        "a: retry wait past the deadline, b: retry wait past the deadline)"
    )
    assert error.retry_after == 90.0
