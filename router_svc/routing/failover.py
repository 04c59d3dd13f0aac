"""Serving a request: walk the decision's candidates, with retries, until one answers in time.

The parts live beside this module: :mod:`.schedule` decides which candidate to try next, when
and why (retries, backoff, retry budget, breakers, the deadline); :mod:`.outcome` reports each
attempt's end to its span, the model's breaker, health and retry budget and the usage
ledger; :mod:`.continuation` settles a stream attempt that broke after relaying content and
walks the models that may continue the answer. This module only calls the providers and
relays what they return.

* One deadline: each attempt's timeout is at most the time remaining (and, for whole answers,
  at most ``attempt_timeout_s``).
* Durable usage: before an answer's last message (the whole answer, the stream's summary, or
  the error) goes out, the engine awaits the sinks' durability barrier, so every usage record
  of the request is in the outbox file by then.
* Streams fail over only until their first content is relayed (or the first token is late);
  after that a failure or a stall (no chunk for ``stream_idle_timeout_s``) is continued on a
  model that can continue the answer (:mod:`.continuation`), or ends the stream with an
  error, never with a truncated answer.
* Hedging (:mod:`.hedge`, ``hedge_after_s`` > 0): a late attempt gets the next candidate run
  beside it; the two hooks below hand the attempt to it, and are all hedging costs when off.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import replace

from llmrouter.request_ids import ERROR_INFO_REQUEST_ID, new_request_id

from ..budgets import Budgets
from ..chat import ChatRequest, Completion, StreamDelta, StreamEnd, TokenUsage
from ..errors import (
    ContextLengthExceeded,
    MalformedResponse,
    ProviderError,
    RouterError,
    UpstreamTimeout,
)
from ..policies import RetryPolicy
from ..providers import ProviderCall
from ..public_errors import PublicErrors
from ..quotas import ModelQuotas, reserved_tokens
from ..registry import ModelEntry
from ..telemetry import current_trace_id, record_decision
from ..tokens import estimate_prompt_tokens
from ..usage import UsageEvent
from ..waits import WaitLimit
from .continuation import (
    Answer,
    Broken,
    Continuation,
    Relayed,
    Seam,
    estimated_usage,
    may_continue,
    settle_broken,
    streamed_success,
)
from .hedge import Hedging
from .outcome import Attempt, AttemptOutcome, RequestInfo, Sinks, Success, no_wait
from .policy import Decision, Policy
from .retry import RetryBudgets
from .schedule import Pacing, Planned, Schedule, Timing, refusal
from .served import Run, Served, StreamStarted, StreamSummary

__all__ = ["Attempt", "Engine", "Served", "StreamStarted", "StreamSummary"]

# Seconds a stream that sent its finish reason may take to send the rest (usage, end marker).
_FINISH_GRACE_S = 1.0


class Engine:
    """Serves requests over the registry with failover; clock, sleep and randomness injected."""

    def __init__(
        self,
        policy: Policy,
        record: Callable[[UsageEvent], None],
        *,
        retry: RetryPolicy | None = None,
        budgets: RetryBudgets | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        capture_content: bool = False,
        durable: Callable[[], Awaitable[None]] = no_wait,
        openinference: bool = False,
        public_errors: PublicErrors | None = None,
        quotas: ModelQuotas | None = None,
        spend: Budgets | None = None,
    ) -> None:
        """``quotas``: the models' and providers' rpm / tpm quotas, reserved per attempt;
        ``spend``: the key and team budgets in USD, reserved per attempt."""
        self._policy = policy
        self.retry = retry or RetryPolicy()
        self.budgets = budgets or RetryBudgets()
        self._clock = clock
        self._wall = wall_clock
        self._capture = capture_content
        self._pacing = Pacing(
            self.retry, self.budgets, Timing(clock, wall_clock, sleep, rand), quotas, spend
        )
        self._sinks = Sinks(
            self.budgets,
            record,
            clock,
            wall_clock,
            capture_content,
            durable,
            openinference,
            public_errors,
        )
        self._hedging = Hedging.of(self.retry, sleep, self._begin, self._answer, self._relay)
        self._continuation = Continuation(self.retry, clock, self._begin, self._relay)

    @property
    def pacing(self) -> Pacing:
        """The rules every request's schedule follows (the embedder's too)."""
        return self._pacing

    @property
    def sinks(self) -> Sinks:
        """Where attempts' outcomes go (the embedder's too)."""
        return self._sinks

    async def _start(
        self, request: ChatRequest, streamed: bool, deadline: float, decision: Decision | None
    ) -> Run:
        if decision is None:
            decision = await self._policy.decide(request)
        record_decision(
            decision, self._policy.classifier.mode, openinference_kind=self._sinks.openinference
        )
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
        if decision.prompt_vector is not None:
            self._policy.remember_prompt(info.request_id, decision.prompt_vector)
        schedule = Schedule(
            decision.candidates,
            deadline,
            self._pacing,
            passed_over=decision.passed_over,
            skipped=decision.skipped,
            tokens=reserved_tokens(decision, request),
            request=request,
            prompt_tokens=decision.estimated_prompt_tokens,
        )
        return Run(info, decision, schedule, deadline)

    def _begin(self, run: Run, planned: Planned) -> AttemptOutcome:
        """Start the attempt ``planned`` (its span); add it to the request's attempts."""
        attempt = AttemptOutcome(planned, run.info, self._sinks)
        run.attempts.append(attempt.record)
        return attempt

    async def complete(
        self,
        request: ChatRequest,
        deadline: float,
        accepted: Callable[[], Awaitable[None]] = no_wait,
        decision: Decision | None = None,
    ) -> Served:
        """Answer ``request`` before monotonic time ``deadline``.

        ``accepted`` is awaited when an upstream answer is accepted, before its usage is
        recorded (the servicer sends the call's response headers then). ``decision``: the
        policy's decision when the caller already has it (the response cache decides first).
        """
        run = await self._start(request, streamed=False, deadline=deadline, decision=decision)
        try:
            failure: ProviderError | None = None
            while (planned := await run.schedule.next(failure)) is not None:
                attempt = self._begin(run, planned)
                if self._hedging is None:
                    answer = await self._answer(attempt, run.deadline, accepted)
                else:  # hook: the answer may come from a hedge, and then is its attempt's
                    attempt, answer = await self._hedging.answer(run, attempt, accepted)
                if isinstance(answer, ProviderError):
                    failure = answer
                    continue
                await self._sinks.durable()
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
            await self._sinks.durable()
            raise

    async def _answer(
        self,
        attempt: AttemptOutcome,
        deadline: float,
        accepted: Callable[[], Awaitable[None]],
    ) -> Completion | ProviderError:
        """One whole-answer attempt: the completion, or the failure to fail over from."""
        entry, request = attempt.entry, attempt.info.request
        remaining = deadline - attempt.started
        if self.retry.attempt_timeout_s > 0:
            remaining = min(remaining, self.retry.attempt_timeout_s)
        limit = WaitLimit()  # half asyncio.timeout's cost: no coroutines, no enum states
        try:
            with limit.within(remaining), attempt.current():
                completion = await entry.provider.complete(
                    ProviderCall(entry.upstream_model, request, remaining)
                )
        except TimeoutError:
            return attempt.failed(_timeout(entry, "answer"))
        except ProviderError as exc:
            # A paused turn's usage, or what a malformed answer reported readably.
            attempt.failed(exc, exc.usage, estimated=False)
            if not exc.retryable and not isinstance(exc, ContextLengthExceeded):
                raise
            return exc
        except asyncio.CancelledError:
            # The request was sent: its upstream bills the prompt (as for a lost hedge).
            attempt.cancelled(TokenUsage(prompt_tokens=estimate_prompt_tokens(request)))
            raise
        finally:
            limit.close()
            attempt.release()  # the upstream call is over, whatever became of it
        try:
            await accepted()
        finally:
            # Recorded whatever became of the caller meanwhile: the upstream answered.
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
        self, request: ChatRequest, deadline: float, decision: Decision | None = None
    ) -> AsyncGenerator[StreamStarted | StreamDelta | StreamSummary, None]:
        """Stream the answer: fail over until the first delta is yielded; after it, continue a
        broken or stalled answer on a model that can (:mod:`.continuation`), else end with
        ``StreamInterrupted``. ``decision`` as for :meth:`complete`."""
        run = await self._start(request, streamed=True, deadline=deadline, decision=decision)
        # A caller's final message to continue is the answer so far: relayed as a prefill,
        # never sent back (continue_final_message; the policy kept only models that can).
        answer = Answer(
            parts=[request.prefill] if request.prefill else [],
            keeps_text=self._capture or may_continue(run.decision),
        )
        try:
            failure: ProviderError | None = None
            while (planned := await run.schedule.next(failure)) is not None:
                attempt = self._begin(run, planned)
                failure, broken = None, None
                relay = self._hedging.relay if self._hedging else self._relay  # hook: see .hedge
                async with aclosing(relay(run, attempt, answer)) as relayed:
                    async for event in relayed:
                        if isinstance(event, ProviderError):
                            failure = event
                        elif isinstance(event, Broken):
                            broken = event
                        else:
                            if isinstance(event, StreamSummary):
                                await self._sinks.durable()
                            yield event
                if broken is not None:
                    async with aclosing(self._continuation.relay(run, answer, broken)) as continued:
                        async for event in continued:
                            if isinstance(event, StreamSummary):
                                await self._sinks.durable()
                            yield event
                    return
                if failure is None:
                    return  # the summary was relayed
                if not failure.retryable and not isinstance(failure, ContextLengthExceeded):
                    raise failure
            raise run.schedule.give_up()
        except RouterError as exc:
            _tag(exc, run)
            await self._sinks.durable()
            raise

    async def _relay(
        self, run: Run, attempt: AttemptOutcome, answer: Answer
    ) -> AsyncGenerator[Relayed, None]:
        """One streamed attempt: its events, then, if it failed, the failure (before any
        content of its own) or :class:`Broken` (after). ``answer`` is the answer so far: when it
        has text, the attempt continues it."""
        entry, request, started = attempt.entry, run.info.request, attempt.started
        deadline, prefill, idle = run.deadline, answer.text, self.retry.stream_idle_timeout_s
        first_by = min(deadline, started + self.retry.ttft_timeout_s)
        if prefill and (cap := request.output_limit) is not None:
            # The caller's limit is for the whole answer: the continuation gets what is left,
            # under the name the caller used.
            left = max(cap - answer.usage.completion_tokens, 1)
            if request.max_completion_tokens is not None:
                request = replace(request, max_completion_tokens=left)
            else:
                request = replace(request, max_tokens=left)
        call = ProviderCall(
            entry.upstream_model,
            request,
            deadline - started,
            prefill=prefill,
            # Within the idle timeout, so that a stream silent after its finish is finalised
            # before it counts as stalled.
            finish_grace_s=min(_FINISH_GRACE_S, idle / 2) if idle > 0 else _FINISH_GRACE_S,
            seen=attempt.seen,
        )
        upstream = entry.provider.stream(call)
        seam = Seam(prefill)
        committed = False
        chunks = chars = thoughts = 0  # relayed by this attempt (chars: reasoning too)
        ours = len(answer.parts)  # where this attempt's part of the answer begins
        failure: ProviderError
        waits = WaitLimit()  # one timer for all the waits, not one per event
        try:
            while True:
                now = self._clock()
                limit = (
                    (min(deadline, now + idle) if idle > 0 else deadline) if committed else first_by
                )
                try:
                    with waits.within(max(limit - now, 0.0)), attempt.current():
                        event = await anext(upstream)
                except StopAsyncIteration:
                    raise MalformedResponse(
                        f"{entry.name} ended its stream without finishing"
                    ) from None
                if isinstance(event, StreamDelta):
                    joined = seam.join(event)
                    if joined is None:
                        continue
                    event = joined
                if not committed:
                    attempt.first_token()
                    committed = True
                    if not answer.started:
                        answer.started = True
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
                    text = "".join(answer.parts[ours:]) if self._capture else None
                    attempt.succeeded(streamed_success(entry, event, text))
                    answer.bill(event.usage, attempt.cost_usd)
                    yield StreamSummary.ending(run, entry, event, answer.usage, answer.cost_usd)
                    return
                chunks += 1
                thoughts += len(event.reasoning_content)
                chars += len(event.content) + len(event.refusal) + len(event.reasoning_content)
                if event.tool_calls:
                    chars += sum(len(c.arguments) for c in event.tool_calls)
                answer.add(event)
                yield event
        except TimeoutError:
            what = "next chunk" if committed else "first token"
            failure = _timeout(entry, what)
            if committed:
                yield settle_broken(
                    attempt,
                    answer,
                    failure,
                    prefill,
                    chars,
                    f"{entry.name} stalled after {chunks} chunks",
                    call.seen.usage,
                    thoughts,
                )
                return
            attempt.failed(failure, call.seen.usage, estimated=False)  # reported before it
        except ProviderError as exc:
            failure = exc
            if committed:
                yield settle_broken(
                    attempt,
                    answer,
                    exc,
                    prefill,
                    chars,
                    f"{entry.name} failed after {chunks} chunks ({exc.reason})",
                    call.seen.usage,
                    thoughts,
                )
                return
            attempt.failed(exc, exc.usage or call.seen.usage, estimated=False)  # as reported
        except (asyncio.CancelledError, GeneratorExit):
            # Its request was sent: billed what the upstream reported so far and what was
            # relayed (estimated where it reported nothing).
            attempt.cancelled(estimated_usage(request, prefill, chars, call.seen.usage, thoughts))
            raise
        finally:
            waits.close()
            attempt.release()  # the stream is over, whatever became of it
            await upstream.aclose()  # type: ignore[attr-defined]
        yield failure


def _tag(error: RouterError, run: Run) -> None:
    """Make ``error`` name the request it ends (ErrorInfo metadata ``requestId``): the id
    its usage records carry, for the caller to quote."""
    error.metadata[ERROR_INFO_REQUEST_ID] = run.info.request_id


def _timeout(entry: ModelEntry, what: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"{entry.name} did not send its {what} in time")
