"""Serving a request: walk the decision's candidates, with retries, until one answers in time.

The parts live beside this module: :mod:`.schedule` decides which candidate to try next, when
and why (retries, backoff, retry budget, breakers, the deadline); :mod:`.outcome` reports each
attempt's end to its span, the model's breaker and health, the retry budget and the usage
ledger. This module only calls the providers and relays what they return.

* One deadline: each attempt's timeout is at most the time remaining (and, for whole answers,
  at most ``attempt_timeout_s``).
* Streams fail over only until their first content is relayed (or the first token is late);
  after that a failure ends the stream with an error, never with a truncated answer.
* Hedging (:mod:`.hedge`, ``hedge_after_s`` > 0): a late attempt gets the next candidate run
  beside it; the two hooks below hand the attempt to it, and are all hedging costs when off.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

from llmrouter.request_ids import ERROR_INFO_REQUEST_ID, new_request_id

from ..chat import ChatRequest, Completion, StreamDelta, StreamEnd, TokenUsage
from ..errors import (
    ContextLengthExceeded,
    MalformedResponse,
    ProviderError,
    RouterError,
    StreamInterrupted,
    UpstreamTimeout,
)
from ..policies import RetryPolicy
from ..providers import ProviderCall
from ..registry import ModelEntry
from ..telemetry import current_trace_id, record_decision
from ..usage import UsageEvent
from .hedge import Hedging
from .outcome import Attempt, AttemptOutcome, RequestInfo, Sinks, Success
from .policy import Decision, Policy
from .retry import RetryBudget
from .schedule import Pacing, Planned, Schedule, Timing, refusal

__all__ = ["Attempt", "Engine", "Served", "StreamStarted", "StreamSummary"]


@dataclass(frozen=True, slots=True)
class Served:
    """A whole answer and how it was obtained."""

    request_id: str
    entry: ModelEntry
    completion: Completion
    cost_usd: float
    attempts: tuple[Attempt, ...]
    decision: Decision
    create_time: float
    fallback: bool
    trace_id: str = ""


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """Emitted once, before the first delta: the model whose output follows."""

    request_id: str
    entry: ModelEntry
    category: str
    create_time: float
    attempt_count: int
    fallback: bool
    trace_id: str = ""


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """The last event of a successful stream."""

    entry: ModelEntry
    finish_reason: str
    usage: TokenUsage
    cost_usd: float
    attempts: tuple[Attempt, ...]
    fallback: bool


@dataclass(frozen=True, slots=True)
class _Run:
    """One request being served: what its attempts share, the schedule that paces them and the
    record of each attempt made (reported to the caller)."""

    info: RequestInfo
    decision: Decision
    schedule: Schedule
    deadline: float  # monotonic
    attempts: list[Attempt] = field(default_factory=list)

    def fallback(self, entry: ModelEntry) -> bool:
        """Whether ``entry`` is not the decision's first choice."""
        return entry is not self.decision.candidates[0].entry


# What one streamed attempt yields to the engine: events to relay, or, last, the failure that
# lets the schedule fail over (a stream that already relayed content raises instead).
_Relayed = StreamStarted | StreamDelta | StreamSummary | ProviderError


class Engine:
    """Serves requests over the registry with failover; clock, sleep and randomness injected."""

    def __init__(
        self,
        policy: Policy,
        record: Callable[[UsageEvent], None],
        *,
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        capture_content: bool = False,
    ) -> None:
        self._policy = policy
        self.retry = retry or RetryPolicy()
        self.budget = budget or RetryBudget()
        self._clock = clock
        self._wall = wall_clock
        self._capture = capture_content
        self._pacing = Pacing(self.retry, self.budget, Timing(clock, wall_clock, sleep, rand))
        self._sinks = Sinks(self.budget, record, clock, wall_clock, capture_content)
        self._hedging: Hedging[_Run, _Relayed] | None = None
        if self.retry.hedge_after_s > 0:
            self._hedging = Hedging(
                self.retry.hedge_after_s, sleep, self._begin, self._answer, self._relay
            )

    async def _start(self, request: ChatRequest, streamed: bool, deadline: float) -> _Run:
        decision = await self._policy.decide(request)
        record_decision(decision, self._policy.classifier.mode)
        if not decision.candidates:
            raise refusal(decision, self._policy.registry)
        info = RequestInfo(
            request=request,
            # Never the client's id: usage records are keyed by it, and a key a client could
            # repeat would let it drop its own usage from the ledger.
            request_id=new_request_id(),
            category=decision.category,
            streamed=streamed,
            trace_id=current_trace_id(),
        )
        schedule = Schedule(decision.candidates, deadline, self._pacing)
        return _Run(info, decision, schedule, deadline)

    def _begin(self, run: _Run, planned: Planned) -> AttemptOutcome:
        """Start the attempt ``planned`` (its span) and add it to the request's attempts."""
        attempt = AttemptOutcome(planned, run.info, self._sinks)
        run.attempts.append(attempt.record)
        return attempt

    async def complete(self, request: ChatRequest, deadline: float) -> Served:
        """Answer ``request`` before monotonic time ``deadline``."""
        run = await self._start(request, streamed=False, deadline=deadline)
        try:
            failure: ProviderError | None = None
            while (planned := await run.schedule.next(failure)) is not None:
                attempt = self._begin(run, planned)
                if self._hedging is None:
                    answer = await self._answer(attempt, run.deadline)
                else:  # hook: the answer may come from a hedge, and then is its attempt's
                    attempt, answer = await self._hedging.answer(run, attempt)
                if isinstance(answer, ProviderError):
                    failure = answer
                    continue
                return Served(
                    request_id=run.info.request_id,
                    entry=attempt.entry,
                    completion=answer,
                    cost_usd=attempt.cost_usd,
                    attempts=tuple(run.attempts),
                    decision=run.decision,
                    create_time=self._wall(),
                    fallback=run.fallback(attempt.entry),
                    trace_id=run.info.trace_id,
                )
            raise run.schedule.give_up()
        except RouterError as exc:
            _tag(exc, run)
            raise

    async def _answer(self, attempt: AttemptOutcome, deadline: float) -> Completion | ProviderError:
        """One whole-answer attempt: the completion, or the failure to fail over from."""
        entry, request = attempt.entry, attempt.info.request
        remaining = deadline - attempt.started
        if self.retry.attempt_timeout_s > 0:
            remaining = min(remaining, self.retry.attempt_timeout_s)
        try:
            async with asyncio.timeout(remaining):
                with attempt.current():
                    completion = await entry.provider.complete(
                        ProviderCall(entry.upstream_model, request, remaining)
                    )
        except TimeoutError:
            return attempt.failed(_timeout(entry, "answer"))
        except ProviderError as exc:
            attempt.failed(exc)
            if not exc.retryable and not isinstance(exc, ContextLengthExceeded):
                raise
            return exc
        except asyncio.CancelledError:
            attempt.cancelled()
            raise
        attempt.succeeded(
            Success(
                usage=completion.usage,
                cost_usd=entry.cost(completion.usage),
                finish_reason=completion.finish_reason,
                response_model=completion.upstream_model,
                output_text=completion.content if self._capture else None,
            )
        )
        return completion

    async def stream(
        self, request: ChatRequest, deadline: float
    ) -> AsyncGenerator[StreamStarted | StreamDelta | StreamSummary, None]:
        """Stream the answer; fail over only before the first delta is yielded."""
        run = await self._start(request, streamed=True, deadline=deadline)
        try:
            failure: ProviderError | None = None
            while (planned := await run.schedule.next(failure)) is not None:
                attempt = self._begin(run, planned)
                failure = None
                if self._hedging is None:
                    events = self._relay(run, attempt)
                else:  # hook: the events may come from a hedge
                    events = self._hedging.relay(run, attempt)
                async with aclosing(events) as relayed:
                    async for event in relayed:
                        if isinstance(event, ProviderError):
                            failure = event
                        else:
                            yield event
                if failure is None:
                    return  # the summary was relayed
            raise run.schedule.give_up()
        except RouterError as exc:
            _tag(exc, run)
            raise

    async def _relay(self, run: _Run, attempt: AttemptOutcome) -> AsyncGenerator[_Relayed, None]:
        """One streamed attempt: its events, or (before any content) the failure to fail over."""
        entry, request, started = attempt.entry, run.info.request, attempt.started
        deadline = run.deadline
        first_by = min(deadline, started + self.retry.ttft_timeout_s)
        upstream = entry.provider.stream(
            ProviderCall(entry.upstream_model, request, deadline - started)
        )
        committed = False
        chunks = 0
        captured: list[str] = []
        failure: ProviderError
        try:
            while True:
                limit = deadline if committed else first_by
                try:
                    async with asyncio.timeout(max(limit - self._clock(), 0.0)):
                        with attempt.current():
                            event = await anext(upstream)
                except StopAsyncIteration:
                    raise MalformedResponse(
                        f"{entry.name} ended its stream without finishing"
                    ) from None
                if not committed:
                    attempt.first_token()
                    committed = True
                    yield StreamStarted(
                        run.info.request_id,
                        entry,
                        run.decision.category,
                        self._wall(),
                        attempt_count=len(run.attempts),
                        fallback=run.fallback(entry),
                        trace_id=run.info.trace_id,
                    )
                if isinstance(event, StreamEnd):
                    attempt.succeeded(_streamed(entry, event, captured if self._capture else None))
                    yield StreamSummary(
                        entry=entry,
                        finish_reason=event.finish_reason,
                        usage=event.usage,
                        cost_usd=attempt.cost_usd,
                        attempts=tuple(run.attempts),
                        fallback=run.fallback(entry),
                    )
                    return
                chunks += 1
                if self._capture:
                    captured.append(event.content)
                yield event
        except TimeoutError:
            what = "next chunk" if committed else "first token"
            failure = attempt.failed(_timeout(entry, what))
            if committed:
                raise StreamInterrupted(f"{entry.name} stalled after {chunks} chunks") from None
        except ProviderError as exc:
            failure = attempt.failed(exc)
            if committed:
                raise StreamInterrupted(
                    f"{entry.name} failed after {chunks} chunks ({exc.reason})"
                ) from None
            if not exc.retryable and not isinstance(exc, ContextLengthExceeded):
                raise
        except (asyncio.CancelledError, GeneratorExit):
            attempt.cancelled()
            raise
        finally:
            await upstream.aclose()  # type: ignore[attr-defined]
        yield failure


def _streamed(entry: ModelEntry, end: StreamEnd, captured: list[str] | None) -> Success:
    """A finished stream's outcome (the answer joined from ``captured`` when capturing)."""
    return Success(
        usage=end.usage,
        cost_usd=entry.cost(end.usage),
        finish_reason=end.finish_reason,
        response_model=entry.upstream_model,
        output_text="".join(captured) if captured is not None else None,
    )


def _tag(error: RouterError, run: _Run) -> None:
    """Make ``error`` name the request it ends (ErrorInfo metadata ``requestId``): the id
    its usage records carry, for the caller to quote."""
    error.metadata[ERROR_INFO_REQUEST_ID] = run.info.request_id


def _timeout(entry: ModelEntry, what: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"{entry.name} did not send its {what} in time")
