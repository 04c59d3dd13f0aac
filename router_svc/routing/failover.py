"""Serving a request: walk the decision's candidates, with retries, until one answers in time.

* Only retryable failures (429, 5xx, timeouts, connection, malformed, auth) retry or fail over;
  a context-length error skips to a candidate with a larger window; a 400 ends the request.
* Retries of the same model back off with full jitter, honouring Retry-After up to a cap.
* One deadline: no attempt starts without ``min_attempt_s`` left, each attempt's timeout is at
  most the time remaining.
* A process-wide retry budget (gRFC A6) stops retry storms: when most recent attempts failed,
  requests fail fast with UNAVAILABLE and a retry delay instead of amplifying load.
* Streams fail over only until their first content is relayed (or the first token is late);
  after that a failure ends the stream with an error, never with a truncated answer.

Every attempt becomes a usage event handed to ``record`` (which must not block).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing, nullcontext
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from llmrouter.request_ids import ERROR_INFO_REQUEST_ID, new_request_id

from ..chat import ChatRequest, Completion, StreamDelta, StreamEnd, TokenUsage
from ..errors import (
    AllCandidatesFailed,
    AllCandidatesRateLimited,
    AuthFailed,
    BreakerOpen,
    ContextLengthExceeded,
    DeadlineExceeded,
    InvalidRequest,
    MalformedResponse,
    NoCandidates,
    ProviderError,
    RateLimited,
    RetryBudgetExhausted,
    RouterError,
    StreamInterrupted,
    UpstreamTimeout,
)
from ..providers import ProviderCall
from ..registry import ModelEntry
from ..telemetry import (
    attempt_failed,
    attempt_succeeded,
    current_trace_id,
    record_decision,
    start_attempt_span,
)
from ..usage import UsageEvent
from .policy import Decision, Policy
from .retry import RetryBudget, RetryPolicy, backoff_delay

__all__ = ["Attempt", "Engine", "Served", "StreamStarted", "StreamSummary"]

# Retry delay suggested to callers refused by the retry budget, in seconds.
_BUDGET_RETRY_AFTER_S = 1.0


@dataclass(slots=True)
class Attempt:
    """One call against one model."""

    number: int
    model: str
    provider: str
    status: str = "failed"
    error_type: str = ""
    error_message: str = ""
    duration_s: float = 0.0
    backoff_s: float = 0.0
    ttft_s: float | None = None
    http_status: int = 0
    retry_after_s: float | None = None
    breaker_state: str = ""
    fallback_reason: str = ""
    span: Any = None  # opentelemetry Span while tracing, else None


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


@dataclass(slots=True)
class _Run:
    """State of one request across its attempts."""

    request: ChatRequest
    request_id: str
    decision: Decision
    streamed: bool
    attempts: list[Attempt] = field(default_factory=list)
    last_error: ProviderError | None = None
    trace_id: str = ""


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
        self._record = record
        self.retry = retry or RetryPolicy()
        self.budget = budget or RetryBudget()
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._rand = rand
        self._capture = capture_content

    async def _start(self, request: ChatRequest, streamed: bool) -> _Run:
        decision = await self._policy.decide(request)
        record_decision(decision, self._policy.classifier.mode)
        if not decision.candidates:
            reasons = "; ".join(f"{s.model}: {s.detail}" for s in decision.skipped)
            kinds = {s.reason for s in decision.skipped}
            if kinds and kinds <= {"CONTEXT_WINDOW", "MISSING_CAPABILITY"}:
                # The request itself is what no model can take: retrying cannot help.
                refusal = ContextLengthExceeded if "CONTEXT_WINDOW" in kinds else InvalidRequest
                raise refusal(
                    f"no model of category {decision.category!r} can take this request ({reasons})"
                )
            waits = [
                e.breaker.retry_after()
                for s in decision.skipped
                if s.reason == "BREAKER_OPEN" and (e := self._policy.registry.get(s.model))
            ]
            raise NoCandidates(
                f"no model of category {decision.category!r} can serve this request"
                + (f" ({reasons})" if reasons else ""),
                retry_after=min(waits) if waits else None,
            )
        # Never the client's id: usage records are keyed by it, and a key a client could repeat
        # would let it drop its own usage from the ledger.
        run = _Run(request, new_request_id(), decision, streamed)
        run.trace_id = current_trace_id()
        return run

    async def _schedule(
        self, run: _Run, deadline: float
    ) -> AsyncGenerator[tuple[ModelEntry, Attempt], None]:
        """Yield each attempt to make; the caller stores its failure in ``run.last_error``."""
        larger_than = -1  # after a context-length error, only larger windows are worth trying
        for candidate in run.decision.candidates:
            entry = candidate.entry
            if entry.config.context_window <= larger_than:
                continue
            for try_number in range(1, self.retry.attempts_per_model + 1):
                backoff = 0.0
                previous = run.last_error
                if try_number > 1:
                    assert previous is not None
                    if isinstance(previous, AuthFailed):
                        break  # the same key will be rejected again: fail over now
                    delay = backoff_delay(
                        self.retry, try_number - 1, previous.retry_after, self._rand
                    )
                    if delay is None:
                        break  # told to wait longer than we are willing to: fail over
                    backoff = delay
                if run.attempts and not self.budget.allows_retry():
                    raise RetryBudgetExhausted(
                        "too many recent upstream failures; not retrying "
                        f"(last: {previous.reason if previous else 'none'})",
                        retry_after=_BUDGET_RETRY_AFTER_S,
                    )
                if deadline - self._clock() < backoff + self.retry.min_attempt_s:
                    return
                if backoff:
                    await self._sleep(backoff)
                state = entry.breaker.state.value
                if not entry.breaker.allow():
                    run.last_error = BreakerOpen(
                        f"{entry.name}: circuit open", retry_after=entry.breaker.retry_after()
                    )
                    break
                attempt = Attempt(len(run.attempts) + 1, entry.name, entry.provider.name)
                attempt.backoff_s, attempt.breaker_state = backoff, state
                if previous is not None:
                    attempt.fallback_reason = previous.reason
                attempt.span = start_attempt_span(
                    entry,
                    attempt.number,
                    backoff_s=backoff,
                    breaker_state=state,
                    fallback_reason=attempt.fallback_reason,
                    retry_after_s=previous.retry_after if previous else None,
                    streamed=run.streamed,
                    request=run.request,
                    capture_content=self._capture,
                )
                run.attempts.append(attempt)
                run.last_error = None
                yield entry, attempt
                error = run.last_error
                if error is None:
                    return
                if isinstance(error, ContextLengthExceeded):
                    larger_than = entry.config.context_window
                    break
                if not error.retryable:
                    return

    async def complete(self, request: ChatRequest, deadline: float) -> Served:
        """Answer ``request`` before monotonic time ``deadline``."""
        run = await self._start(request, streamed=False)
        try:
            async with aclosing(self._schedule(run, deadline)) as schedule:
                async for entry, attempt in schedule:
                    started = self._clock()
                    remaining = deadline - started
                    if self.retry.attempt_timeout_s > 0:
                        remaining = min(remaining, self.retry.attempt_timeout_s)
                    try:
                        async with asyncio.timeout(remaining):
                            with _current(attempt.span):
                                completion = await entry.provider.complete(
                                    ProviderCall(entry.upstream_model, request, remaining)
                                )
                    except TimeoutError:
                        self._failed(run, attempt, entry, started, _timeout(entry, "answer"))
                        continue
                    except ProviderError as exc:
                        self._failed(run, attempt, entry, started, exc)
                        if not exc.retryable and not isinstance(exc, ContextLengthExceeded):
                            raise
                        continue
                    except asyncio.CancelledError:
                        self._cancelled(run, attempt, entry, started)
                        raise
                    cost = entry.cost(completion.usage)
                    self._succeeded(
                        run,
                        attempt,
                        entry,
                        started,
                        completion.usage,
                        cost,
                        completion.finish_reason,
                        completion.upstream_model,
                        completion.content if self._capture else None,
                    )
                    return Served(
                        request_id=run.request_id,
                        entry=entry,
                        completion=completion,
                        cost_usd=cost,
                        attempts=tuple(run.attempts),
                        decision=run.decision,
                        create_time=self._wall(),
                        fallback=entry is not run.decision.candidates[0].entry,
                        trace_id=run.trace_id,
                    )
            raise self._exhausted(run, deadline)
        except RouterError as exc:
            _tag(exc, run)
            raise

    async def stream(
        self, request: ChatRequest, deadline: float
    ) -> AsyncGenerator[StreamStarted | StreamDelta | StreamSummary, None]:
        """Stream the answer; fail over only before the first delta is yielded."""
        run = await self._start(request, streamed=True)
        try:
            async with aclosing(self._schedule(run, deadline)) as schedule:
                async for entry, attempt in schedule:
                    started = self._clock()
                    first_by = min(deadline, started + self.retry.ttft_timeout_s)
                    upstream = entry.provider.stream(
                        ProviderCall(entry.upstream_model, request, deadline - started)
                    )
                    committed = False
                    chunks = 0
                    captured: list[str] = []
                    try:
                        while True:
                            limit = deadline if committed else first_by
                            try:
                                async with asyncio.timeout(max(limit - self._clock(), 0.0)):
                                    with _current(attempt.span):
                                        event = await anext(upstream)
                            except StopAsyncIteration:
                                raise MalformedResponse(
                                    f"{entry.name} ended its stream without finishing"
                                ) from None
                            if not committed:
                                attempt.ttft_s = self._clock() - started
                                committed = True
                                yield StreamStarted(
                                    run.request_id,
                                    entry,
                                    run.decision.category,
                                    self._wall(),
                                    attempt_count=len(run.attempts),
                                    fallback=entry is not run.decision.candidates[0].entry,
                                    trace_id=run.trace_id,
                                )
                            if isinstance(event, StreamEnd):
                                cost = entry.cost(event.usage)
                                self._succeeded(
                                    run,
                                    attempt,
                                    entry,
                                    started,
                                    event.usage,
                                    cost,
                                    event.finish_reason,
                                    entry.upstream_model,
                                    "".join(captured) if self._capture else None,
                                )
                                yield StreamSummary(
                                    entry=entry,
                                    finish_reason=event.finish_reason,
                                    usage=event.usage,
                                    cost_usd=cost,
                                    attempts=tuple(run.attempts),
                                    fallback=entry is not run.decision.candidates[0].entry,
                                )
                                return
                            chunks += 1
                            if self._capture:
                                captured.append(event.content)
                            yield event
                    except TimeoutError:
                        what = "next chunk" if committed else "first token"
                        self._failed(run, attempt, entry, started, _timeout(entry, what))
                        if committed:
                            raise StreamInterrupted(
                                f"{entry.name} stalled after {chunks} chunks"
                            ) from None
                        continue
                    except ProviderError as exc:
                        self._failed(run, attempt, entry, started, exc)
                        if committed:
                            raise StreamInterrupted(
                                f"{entry.name} failed after {chunks} chunks ({exc.reason})"
                            ) from None
                        if not exc.retryable and not isinstance(exc, ContextLengthExceeded):
                            raise
                        continue
                    except (asyncio.CancelledError, GeneratorExit):
                        self._cancelled(run, attempt, entry, started)
                        raise
                    finally:
                        await upstream.aclose()  # type: ignore[attr-defined]
            raise self._exhausted(run, deadline)
        except RouterError as exc:
            _tag(exc, run)
            raise

    def _exhausted(self, run: _Run, deadline: float) -> RouterError:
        tried = ", ".join(f"{a.model}: {a.error_type}" for a in run.attempts) or "none"
        last = run.last_error
        if isinstance(last, ContextLengthExceeded):
            return last
        if deadline - self._clock() < self.retry.min_attempt_s:
            return DeadlineExceeded(
                f"deadline exceeded after {len(run.attempts)} attempts ({tried})"
            )
        if isinstance(last, BreakerOpen) and not run.attempts:
            return NoCandidates(str(last), retry_after=last.retry_after)
        if run.attempts and all(a.error_type == RateLimited.reason for a in run.attempts):
            hints = [a.retry_after_s for a in run.attempts if a.retry_after_s is not None]
            return AllCandidatesRateLimited(
                f"every model is rate limited ({tried})", retry_after=min(hints) if hints else None
            )
        return AllCandidatesFailed(
            f"all {len(run.attempts)} attempts failed ({tried})",
            retry_after=last.retry_after if last else None,
        )

    def _succeeded(
        self,
        run: _Run,
        attempt: Attempt,
        entry: ModelEntry,
        started: float,
        usage: TokenUsage,
        cost: float,
        finish_reason: str,
        response_model: str,
        output_text: str | None,
    ) -> None:
        attempt.duration_s = self._clock() - started
        attempt.status = "succeeded"
        attempt_succeeded(
            attempt.span,
            response_model=response_model,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            finish_reason=finish_reason,
            cost_usd=cost,
            ttft_s=attempt.ttft_s,
            output_text=output_text,
        )
        entry.breaker.record_success()
        entry.health.observe(ok=True, latency_s=attempt.duration_s, now=self._wall())
        self.budget.on_success()
        self._emit(run, attempt, entry, usage, cost)

    def _failed(
        self, run: _Run, attempt: Attempt, entry: ModelEntry, started: float, error: ProviderError
    ) -> None:
        attempt.duration_s = self._clock() - started
        attempt.status, attempt.error_type = "failed", error.reason
        attempt.error_message = error.message
        attempt.http_status = error.http_status
        attempt.retry_after_s = error.retry_after
        attempt_failed(attempt.span, error.reason, error.message)
        run.last_error = error
        if error.counts_against_breaker:
            entry.breaker.record_failure()
        else:
            entry.breaker.record_release()
        if error.retryable:
            self.budget.on_failure()
        entry.health.observe(
            ok=False, latency_s=attempt.duration_s, now=self._wall(), error_type=error.reason
        )
        self._emit(run, attempt, entry, TokenUsage(), 0.0)

    def _cancelled(self, run: _Run, attempt: Attempt, entry: ModelEntry, started: float) -> None:
        if attempt.status == "succeeded":
            return  # closed after its summary: nothing was lost
        attempt.duration_s = self._clock() - started
        attempt.status, attempt.error_type = "cancelled", "CANCELLED"
        attempt_failed(attempt.span, "CANCELLED", "cancelled by the caller", cancelled=True)
        entry.breaker.record_release()
        self._emit(run, attempt, entry, TokenUsage(), 0.0)

    def _emit(
        self, run: _Run, attempt: Attempt, entry: ModelEntry, usage: TokenUsage, cost: float
    ) -> None:
        first_model = run.attempts[0].model
        index = attempt.number - 1
        previous = run.attempts[index - 1].model if index > 0 else ""
        request = run.request
        fallback = attempt.model != first_model
        self._record(
            UsageEvent(
                request_id=run.request_id,
                attempt=attempt.number,
                time=self._wall(),
                provider=entry.provider.name,
                model=entry.name,
                category=run.decision.category,
                task_type=request.task_type,
                source=request.source,
                api_key_id=request.api_key_id,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=cost,
                duration_s=attempt.duration_s,
                ttft_s=attempt.ttft_s,
                status=attempt.status,
                error_type=attempt.error_type,
                fallback=fallback,
                fallback_from=previous if fallback else "",
                trace_id=run.trace_id,
                span_id=_span_id(attempt.span),
                client_request_id=request.client_request_id,
                fallback_reason=attempt.fallback_reason,
                metadata=request.metadata,
                local=entry.provider.local,
                streamed=run.streamed,
            )
        )


def _tag(error: RouterError, run: _Run) -> None:
    """Make ``error`` name the request it ends (ErrorInfo metadata ``requestId``): the id
    its usage records carry, for the caller to quote."""
    error.metadata[ERROR_INFO_REQUEST_ID] = run.request_id


def _current(span: Any) -> contextlib.AbstractContextManager[Any]:
    """Make the attempt's span current (so providers propagate it upstream)."""
    return nullcontext() if span is None else trace.use_span(span, end_on_exit=False)


def _span_id(span: Any) -> str:
    """The attempt span's id when its trace is sampled: the ledger's ``usage.record`` span
    is its child, and a child of a span nobody exports would be an orphan."""
    if span is None:
        return ""
    context = span.get_span_context()
    return format(context.span_id, "016x") if context.trace_flags.sampled else ""


def _timeout(entry: ModelEntry, what: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"{entry.name} did not send its {what} in time")
