"""A scripted engine for hedging tests: a provider whose every call ends when the test says,
and a hedge timer (the engine's injected sleep) that fires when the test says, so every
interleaving of two attempts is exact. The provider implements the provider interface
without HTTP: the timing of each call is the point here; tests/router_svc/test_hedge.py runs
the same behaviours over gRPC against the fake HTTP upstream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

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
from router_svc.errors import ProviderError, UpstreamUnavailable
from router_svc.policies import BreakerPolicy, RetryPolicy
from router_svc.providers.base import Provider
from router_svc.providers.call import ProviderCall
from router_svc.registry import Registry
from router_svc.routing.classify import Classifier
from router_svc.routing.failover import Engine
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
        """The upstream answers (whole, or its stream's first delta, then the rest)."""
        self.ending.set_result(None)

    def fail(self, error: ProviderError) -> None:
        """The upstream fails with ``error`` before any content."""
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
        """The calls made, once there are ``count`` (TimeoutError after 2 s)."""
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
        """Wait ``seconds``: the hedge time until fired, anything else not at all."""
        if seconds == HEDGE_AFTER_S:
            self.started += 1
            await self.fired.wait()


@dataclass
class Setup:
    """An engine over scripted models, and what tests drive and read."""

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
    """An engine over models ``chain`` (in that order) on the scripted provider: hedging after
    HEDGE_AFTER_S (the timer), one attempt per model, one failure ejects a model for 10 s;
    ``retry`` overrides RetryPolicy fields."""
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
    """A deadline ``seconds`` from now (monotonic)."""
    return time.monotonic() + seconds


def outcomes(records: list[UsageEvent]) -> list[tuple[int, str, str, str]]:
    """(attempt, model, status, error type) of each usage record, by attempt."""
    return sorted((r.attempt, r.model, r.status, r.error_type) for r in records)
