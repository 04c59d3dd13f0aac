"""Hedging in the failover engine, step by step: the hedge timer is the engine's injected sleep
and each upstream call ends when the test says, so every interleaving is exact.

The provider is a scripted implementation of the provider interface (no HTTP: the timing of
each call is the point here); tests/router_svc/test_hedge.py runs the same behaviours over
gRPC against the fake HTTP upstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from router_svc.breaker import BreakerState
from router_svc.chat import (
    ChatRequest,
    Completion,
    Message,
    StreamDelta,
    StreamEnd,
    StreamEvent,
    TokenUsage,
)
from router_svc.config import ModelConfig, ProviderConfig
from router_svc.errors import (
    AllCandidatesFailed,
    InvalidRequest,
    ProviderError,
    UpstreamUnavailable,
)
from router_svc.policies import BreakerPolicy, RetryPolicy
from router_svc.providers.base import Provider
from router_svc.providers.call import ProviderCall
from router_svc.registry import Registry
from router_svc.routing.classify import Classifier
from router_svc.routing.failover import Engine, Served, StreamStarted, StreamSummary
from router_svc.routing.policy import Policy
from router_svc.tokens import estimate_prompt_tokens
from router_svc.usage import UsageEvent

HEDGE_AFTER_S = 7.0  # never waited for: the test fires the timer
REQUEST = ChatRequest(model="auto", messages=(Message("user", "hello there"),))
PROMPT = estimate_prompt_tokens(REQUEST)


@dataclass
class Call:
    """One upstream call, ended by the test."""

    model: str
    ending: asyncio.Future[ProviderError | None]
    cancelled: bool = False
    closed: bool = False
    # Streams: the answer so far that this call is asked to continue.
    prefill: str = ""

    def answer(self) -> None:
        self.ending.set_result(None)

    def fail(self, error: ProviderError) -> None:
        self.ending.set_result(error)


class Scripted(Provider):
    """Every call waits until the test ends it (answer or fail); notes being cancelled.
    Streams of the models in ``breaking`` fail after their first delta."""

    def __init__(self, breaking: str = "") -> None:
        super().__init__(ProviderConfig(name="scripted", kind="simulated"))
        self.calls: list[Call] = []
        self.breaking = breaking

    def _begin(self, model: str) -> Call:
        call = Call(model, asyncio.get_running_loop().create_future())
        self.calls.append(call)
        return call

    @staticmethod
    async def _end(call: Call) -> None:
        try:
            error = await call.ending
        except asyncio.CancelledError:
            call.cancelled = True
            raise
        if error is not None:
            raise error

    async def complete(self, call: ProviderCall) -> Completion:
        await self._end(self._begin(call.model))
        return Completion(f"from {call.model}", (), "stop", TokenUsage(100, 7), call.model)

    async def stream(self, call: ProviderCall) -> AsyncIterator[StreamEvent]:
        this = self._begin(call.model)
        this.prefill = call.prefill
        try:
            await self._end(this)
            yield StreamDelta(content=f"from {call.model}")
            if call.model in self.breaking:
                raise UpstreamUnavailable(f"{call.model}: connection reset")
            yield StreamEnd("stop", TokenUsage(100, 7))
        finally:
            this.closed = True

    async def wait_calls(self, count: int) -> list[Call]:
        async with asyncio.timeout(2):
            while len(self.calls) < count:  # noqa: ASYNC110 - state owned by other tasks
                await asyncio.sleep(0)
        return self.calls


@dataclass
class Timer:
    """The engine's sleep: the hedge timer waits until fired, backoffs pass at once."""

    fired: asyncio.Event = field(default_factory=asyncio.Event)
    started: int = 0

    async def sleep(self, seconds: float) -> None:
        if seconds == HEDGE_AFTER_S:
            self.started += 1
            await self.fired.wait()


@dataclass
class Setup:
    engine: Engine
    upstream: Scripted
    timer: Timer
    registry: Registry
    records: list[UsageEvent]
    now: list[float]


def setup(
    chain: str = "abc",
    *,
    breaking: str = "",
    continuing: str = "",
    breaker: BreakerPolicy = BreakerPolicy(consecutive_failures=1, base_ejection_s=10),  # noqa: B008
    **retry: Any,
) -> Setup:
    upstream, timer, records, now = Scripted(breaking), Timer(), [], [1000.0]
    models = tuple(
        ModelConfig(
            name=name,
            provider="scripted",
            input_price_per_million=1.0,
            output_price_per_million=2.0,
            context_window=100_000,
            continuation=name in continuing,
        )
        for name in chain
    )
    registry = Registry(
        models,
        {"scripted": upstream},
        breaker_policy=breaker,
        clock=lambda: now[0],
    )
    policy = Policy(registry, (), tuple(chain), Classifier(()))
    fields: dict[str, Any] = {"hedge_after_s": HEDGE_AFTER_S, "attempts_per_model": 1} | retry
    engine = Engine(policy, records.append, retry=RetryPolicy(**fields), sleep=timer.sleep)
    return Setup(engine, upstream, timer, registry, records, now)


def deadline(seconds: float = 30.0) -> float:
    return time.monotonic() + seconds


def outcomes(records: list[UsageEvent]) -> list[tuple[int, str, str, str]]:
    return sorted((r.attempt, r.model, r.status, r.error_type) for r in records)


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
    assert all(r.prompt_tokens == 0 for r in s.records)


async def collect(s: Setup) -> list[Any]:
    return [event async for event in s.engine.stream(REQUEST, deadline())]


async def test_a_stream_whose_first_token_is_late_is_served_by_the_hedge() -> None:
    s = setup()
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    b.answer()
    events = await streamed
    start, delta, summary = events
    assert isinstance(start, StreamStarted)
    assert isinstance(summary, StreamSummary)
    assert (start.entry.name, start.fallback, start.attempt_count) == ("b", True, 2)
    assert delta == StreamDelta(content="from b")
    assert a.cancelled  # the loser's upstream stream was closed
    assert a.closed
    assert [(x.model, x.status, x.error_type) for x in summary.attempts] == [
        ("a", "cancelled", "HEDGE_LOST"),
        ("b", "succeeded", ""),
    ]
    assert outcomes(s.records) == [(1, "a", "cancelled", "HEDGE_LOST"), (2, "b", "succeeded", "")]


async def test_a_stream_keeps_its_first_attempt_when_that_starts_first() -> None:
    s = setup()
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    a.answer()
    start, delta, _ = await streamed
    assert start.entry.name == "a"
    assert delta == StreamDelta(content="from a")
    assert b.cancelled
    assert b.closed
    assert outcomes(s.records) == [(1, "a", "succeeded", ""), (2, "b", "cancelled", "HEDGE_LOST")]


async def test_a_stream_whose_hedge_fails_waits_for_the_first() -> None:
    s = setup()
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    b.fail(UpstreamUnavailable("b: 503"))
    await asyncio.sleep(0.01)
    a.answer()
    start, *_ = await streamed
    assert start.entry.name == "a"
    assert outcomes(s.records) == [
        (1, "a", "succeeded", ""),
        (2, "b", "failed", "UPSTREAM_UNAVAILABLE"),
    ]


async def test_a_hedge_that_breaks_mid_stream_is_continued_after_its_own_text() -> None:
    s = setup(breaking="b", continuing="c")
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    _, b = await s.upstream.wait_calls(2)
    b.answer()
    *_, c = await s.upstream.wait_calls(3)
    assert (c.model, c.prefill) == ("c", "from b")  # the answer relayed so far is b's
    c.answer()
    events = await streamed
    assert [type(e).__name__ for e in events] == [
        "StreamStarted",
        "StreamDelta",
        "StreamDelta",
        "StreamSummary",
    ]
    assert events[0].entry.name == "b"
    assert [e.content for e in events[1:3]] == ["from b", "from c"]
    assert [(x.model, x.status, x.error_type) for x in events[-1].attempts] == [
        ("a", "cancelled", "HEDGE_LOST"),
        ("b", "failed", "UPSTREAM_UNAVAILABLE"),
        ("c", "succeeded", ""),
    ]


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
