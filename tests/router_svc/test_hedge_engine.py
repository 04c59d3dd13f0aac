"""Hedging in the failover engine, whole answers, step by step: the hedge timer is the engine's
injected sleep and each upstream call ends when the test says (.scripted_engine), so every
interleaving is exact."""

from __future__ import annotations

import asyncio

import pytest

from router_svc.breaker import BreakerState
from router_svc.errors import AllCandidatesFailed, InvalidRequest, UpstreamUnavailable
from router_svc.policies import BreakerPolicy
from router_svc.routing.failover import Served

from .scripted_engine import PROMPT, REQUEST, deadline, outcomes, setup


async def test_an_answer_before_the_hedge_time_starts_no_hedge() -> None:
    s = setup()
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    (a,) = await s.upstream.wait_calls(1)
    a.answer()
    result = await served
    assert (result.entry.name, result.fallback) == ("a", False)
    assert [x.model for x in s.upstream.calls] == ["a"]
    assert outcomes(s.records) == [(1, "a", "succeeded", "")]
    s.timer.fired.set()  # too late: the request is over, nothing starts
    await asyncio.sleep(0.01)
    assert len(s.upstream.calls) == 1


async def test_late_answer_starts_the_next_model_which_wins_the_loser_is_billed() -> None:
    s = setup()
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    (a,) = await s.upstream.wait_calls(1)
    await asyncio.sleep(0.01)
    assert len(s.upstream.calls) == 1  # not before the hedge time
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    assert b.model == "b"
    b.answer()
    result: Served = await served
    assert (result.entry.name, result.completion.content, result.fallback) == ("b", "from b", True)
    assert a.cancelled  # the loser's upstream call was cancelled
    assert [(x.model, x.status, x.error_type, x.fallback_reason) for x in result.attempts] == [
        ("a", "cancelled", "HEDGE_LOST", ""),
        ("b", "succeeded", "", "HEDGE"),
    ]
    lost, won = sorted(s.records, key=lambda r: r.attempt)
    assert (lost.status, lost.error_type, lost.prompt_tokens, lost.completion_tokens) == (
        "cancelled",
        "HEDGE_LOST",
        PROMPT,
        0,
    )
    assert lost.cost_usd == pytest.approx(PROMPT * 1.0 / 1e6)
    assert (won.status, won.prompt_tokens, won.completion_tokens) == ("succeeded", 100, 7)
    assert (won.fallback, won.fallback_from, won.fallback_reason) == (True, "a", "HEDGE")
    # Losing a hedge is no failure of the model.
    a_entry = s.registry.get("a")
    assert a_entry is not None
    assert (a_entry.breaker.state, a_entry.breaker.consecutive_failures) == (
        BreakerState.CLOSED,
        0,
    )


async def test_the_first_attempt_may_still_win_then_the_hedge_is_cancelled() -> None:
    s = setup()
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    a.answer()
    result = await served
    assert result.entry.name == "a"
    assert not result.fallback
    assert b.cancelled
    assert outcomes(s.records) == [(1, "a", "succeeded", ""), (2, "b", "cancelled", "HEDGE_LOST")]


async def test_answers_at_once_accept_once_before_any_usage_and_both_are_billed() -> None:
    # The engine's ``accepted`` (the servicer sends the response headers) comes once, before
    # any usage is recorded; an attempt that holds its answer is not cancelled: its upstream
    # billed it in full.
    s = setup()
    records_at_acceptance: list[int] = []

    async def accepted() -> None:
        records_at_acceptance.append(len(s.records))
        await asyncio.sleep(0.01)  # the headers take a moment to go out

    served = asyncio.create_task(s.engine.complete(REQUEST, deadline(), accepted))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    b.answer()
    await asyncio.sleep(0.001)  # b's answer is in, its acceptance under way
    a.answer()
    result = await served
    assert result.entry.name == "b"  # the first answer
    assert not a.cancelled
    assert records_at_acceptance == [0]
    assert outcomes(s.records) == [(1, "a", "succeeded", ""), (2, "b", "succeeded", "")]


async def test_a_failure_before_the_hedge_time_fails_over_as_usual() -> None:
    s = setup()
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    (a,) = await s.upstream.wait_calls(1)
    a.fail(UpstreamUnavailable("a: 503"))
    _, b = await s.upstream.wait_calls(2)
    b.answer()
    result = await served
    assert [(x.model, x.status, x.fallback_reason) for x in result.attempts] == [
        ("a", "failed", ""),
        ("b", "succeeded", "UPSTREAM_UNAVAILABLE"),
    ]


async def test_a_failure_while_the_other_runs_waits_for_the_other() -> None:
    s = setup()
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    b.fail(UpstreamUnavailable("b: 503"))
    await asyncio.sleep(0.01)
    assert not served.done()  # a still runs
    a.answer()
    result = await served
    assert result.entry.name == "a"
    assert len(s.upstream.calls) == 2  # no third model while a could still answer
    assert outcomes(s.records) == [
        (1, "a", "succeeded", ""),
        (2, "b", "failed", "UPSTREAM_UNAVAILABLE"),
    ]


async def test_an_invalid_request_error_waits_for_the_other_too() -> None:
    s = setup()
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    a.fail(InvalidRequest("a: temperature is invalid"))
    await asyncio.sleep(0.01)
    b.answer()
    assert (await served).entry.name == "b"


async def test_both_failing_fails_over_from_the_hedge_and_hedges_no_more() -> None:
    s = setup("abcd")
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    a.fail(UpstreamUnavailable("a: 503"))
    await asyncio.sleep(0.01)
    b.fail(UpstreamUnavailable("b: 503"))
    *_, c = await s.upstream.wait_calls(3)
    assert c.model == "c"
    await asyncio.sleep(0.01)  # c is late too (the timer is still fired): no second hedge
    assert len(s.upstream.calls) == 3
    assert s.timer.started == 1
    c.answer()
    result = await served
    assert [(x.model, x.status, x.fallback_reason) for x in result.attempts] == [
        ("a", "failed", ""),
        ("b", "failed", "HEDGE"),
        ("c", "succeeded", "UPSTREAM_UNAVAILABLE"),
    ]


async def test_both_failing_with_nothing_left_names_both_failures() -> None:
    s = setup("ab")
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    b.fail(UpstreamUnavailable("b: 503"))
    await asyncio.sleep(0.01)
    a.fail(UpstreamUnavailable("a: 503"))
    with pytest.raises(AllCandidatesFailed) as info:
        await served
    assert "a: UPSTREAM_UNAVAILABLE, b: UPSTREAM_UNAVAILABLE" in info.value.message


async def test_no_other_model_means_no_hedge_and_the_retries_stay() -> None:
    s = setup("a", breaker=BreakerPolicy(), attempts_per_model=2)
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    await asyncio.sleep(0.01)
    (a,) = s.upstream.calls
    a.fail(UpstreamUnavailable("a: 503"))
    _, again = await s.upstream.wait_calls(2)
    assert again.model == "a"
    again.answer()
    result = await served
    assert [(x.model, x.status) for x in result.attempts] == [("a", "failed"), ("a", "succeeded")]


async def test_the_hedge_skips_an_open_breaker() -> None:
    s = setup()
    b_entry = s.registry.get("b")
    assert b_entry is not None
    b_entry.breaker.record_failure()  # opens (one failure opens in this setup)
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    _, c = await s.upstream.wait_calls(2)
    assert c.model == "c"
    c.answer()
    result = await served
    assert [(x.model, x.fallback_reason) for x in result.attempts] == [("a", ""), ("c", "HEDGE")]


async def test_a_model_skipped_by_a_hedge_that_could_not_start_stays_for_the_failover() -> None:
    s = setup("ab")
    b_entry = s.registry.get("b")
    assert b_entry is not None
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    (a,) = await s.upstream.wait_calls(1)
    b_entry.breaker.record_failure()  # another request's failure ejects b for 10 s
    s.timer.fired.set()  # a is late, but b may not start: no hedge
    await asyncio.sleep(0.01)
    assert len(s.upstream.calls) == 1
    s.now[0] += 11  # b's ejection is over: it may be probed
    a.fail(UpstreamUnavailable("a: 503"))
    _, b = await s.upstream.wait_calls(2)
    assert b.model == "b"
    b.answer()
    result = await served
    assert result.entry.name == "b"
    assert [(x.model, x.status, x.fallback_reason) for x in result.attempts] == [
        ("a", "failed", ""),
        ("b", "succeeded", "UPSTREAM_UNAVAILABLE"),
    ]


async def test_a_failed_request_does_not_name_a_hedge_that_could_not_start() -> None:
    s = setup(
        "ab", breaker=BreakerPolicy(consecutive_failures=1, base_ejection_s=100, max_ejection_s=100)
    )
    b_entry = s.registry.get("b")
    assert b_entry is not None
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    (a,) = await s.upstream.wait_calls(1)
    b_entry.breaker.record_failure()  # after the decision: the schedule meets the open breaker
    s.timer.fired.set()
    await asyncio.sleep(0.01)
    a.fail(UpstreamUnavailable("a: 503"))
    with pytest.raises(AllCandidatesFailed) as info:
        await served
    # b was passed over once, by the failover, not once more for the hedge that never started.
    assert info.value.message == "all 1 attempts failed (a: UPSTREAM_UNAVAILABLE, b: BREAKER_OPEN)"


async def test_a_half_open_probe_that_loses_frees_its_slot() -> None:
    s = setup()
    a_entry = s.registry.get("a")
    assert a_entry is not None
    a_entry.breaker.record_failure()
    s.now[0] += 11  # past the ejection: half-open, one probe
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)  # a is the probe
    assert not a_entry.breaker.would_allow()
    s.timer.fired.set()
    _, b = await s.upstream.wait_calls(2)
    b.answer()
    assert (await served).entry.name == "b"
    assert a_entry.breaker.state is BreakerState.HALF_OPEN
    assert a_entry.breaker.would_allow()  # the slot is free for the next probe


async def test_a_spent_retry_budget_does_not_stop_a_hedge() -> None:
    # A hedge is a first attempt on its model: per-model budgets only limit retries.
    s = setup()
    for model in "ab":
        s.engine.budgets.of(model).tokens = 0
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    _, b = await s.upstream.wait_calls(2)
    b.answer()
    assert (await served).entry.name == "b"


async def test_no_hedge_when_the_deadline_is_near() -> None:
    s = setup(min_attempt_s=5.0)
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline(5.5)))
    await s.upstream.wait_calls(1)
    await asyncio.sleep(0.6)  # now less than min_attempt_s is left
    s.timer.fired.set()
    await asyncio.sleep(0.01)
    assert len(s.upstream.calls) == 1
    s.upstream.calls[0].answer()
    assert (await served).entry.name == "a"


async def test_the_caller_leaving_cancels_both_attempts() -> None:
    s = setup()
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    served.cancel()
    with pytest.raises(asyncio.CancelledError):
        await served
    assert a.cancelled
    assert b.cancelled
    assert outcomes(s.records) == [
        (1, "a", "cancelled", "CANCELLED"),
        (2, "b", "cancelled", "CANCELLED"),
    ]
    # Both requests were sent: each is billed the prompt's estimate (as a lost hedge is).
    assert [(r.prompt_tokens, r.cost_usd) for r in s.records] == [
        (PROMPT, pytest.approx(PROMPT * 1.0 / 1e6))
    ] * 2


async def test_off_makes_no_timer() -> None:
    s = setup(hedge_after_s=0.0)
    served = asyncio.create_task(s.engine.complete(REQUEST, deadline()))
    (a,) = await s.upstream.wait_calls(1)
    await asyncio.sleep(0.01)
    a.answer()
    await served
    assert s.timer.started == 0
    assert len(s.upstream.calls) == 1


def test_config_rejects_a_negative_or_infinite_hedge_time() -> None:
    from llmrouter.config import ConfigError
    from router_svc.config import load_config

    for bad in (-0.1, float("inf")):
        with pytest.raises(ConfigError, match=r"router\.retry\.hedge_after_s: must be"):
            load_config(document={"router": {"retry": {"hedge_after_s": bad}}}, environ={})
    loaded = load_config(document={"router": {"retry": {"hedge_after_s": 0.25}}}, environ={})
    assert loaded.retry.hedge_after_s == 0.25
