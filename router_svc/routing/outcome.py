"""One attempt from its start to its outcome.

An :class:`AttemptOutcome` starts the attempt's span and, when the attempt ends, updates
everything an outcome touches in one place: the attempt's record, its span, the model's
breaker, health and retry budget, and the usage event handed to ``record``
(which must not block). ``durable`` is the barrier the engine awaits before an answer's last
message goes out: every usage event recorded so far is then in the outbox file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry import trace

from llmrouter.telemetry import tracing_enabled
from llmrouter.values import frozen

from ..chat import ChatRequest, TokenUsage
from ..errors import ProviderError
from ..openinference import result_attributes
from ..providers.call import UsageSeen
from ..public_errors import PublicErrors
from ..telemetry import (
    AttemptSpanInput,
    attempt_failed,
    attempt_succeeded,
    start_attempt_span,
)
from ..usage import UsageEvent
from .retry import RetryBudgets
from .schedule import Planned

__all__ = [
    "HEDGE_LOST",
    "Attempt",
    "AttemptOutcome",
    "RequestInfo",
    "Sinks",
    "Success",
    "no_wait",
    "usage_event",
]

# The error type of an attempt cancelled because another attempt of its request answered first.
HEDGE_LOST = "HEDGE_LOST"
# What an attempt used until it reports otherwise (one value: TokenUsage is immutable).
_UNUSED = TokenUsage()
# The attempt span's context when not tracing (reusable: it holds no state).
_NO_SPAN = nullcontext()


@dataclass(slots=True)
class Attempt:
    """One call against one model."""

    number: int
    model: str
    provider: str
    status: str = "failed"
    error_type: str = ""
    # As the caller reads it (see Sinks.public); the whole message is on the attempt's span.
    error_message: str = ""
    duration_s: float = 0.0
    backoff_s: float = 0.0
    ttft_s: float | None = None
    http_status: int = 0
    retry_after_s: float | None = None
    breaker_state: str = ""
    fallback_reason: str = ""


@frozen
class RequestInfo:
    """What every attempt of one request shares."""

    request: ChatRequest
    # Router-generated: the usage records' key, quoted to the caller on errors.
    request_id: str
    category: str
    streamed: bool
    trace_id: str


async def no_wait() -> None:
    """The durability barrier when usage is not recorded durably: returns at once."""


@dataclass(frozen=True, slots=True)
class Sinks:
    """Where outcomes go beyond the model itself, and the clocks they are timed by."""

    # One retry budget per model.
    budgets: RetryBudgets
    # Takes each attempt's usage event; must not block.
    record: Callable[[UsageEvent], None]
    # Monotonic seconds, for durations.
    clock: Callable[[], float]
    # Wall-clock seconds, for health and usage timestamps.
    wall_clock: Callable[[], float]
    # Put prompts and answers on spans.
    capture_content: bool
    # Returns once every event ``record`` took so far is durable (bounded; never raises).
    durable: Callable[[], Awaitable[None]] = no_wait
    # Put OpenInference attributes on spans beside the GenAI ones (``router.openinference``).
    openinference: bool = False
    # Rewrites a failed attempt's message for the caller (Attempt.error_message); None keeps
    # it whole. The span always gets the whole message.
    public: PublicErrors | None = None


@frozen
class Success:
    """What a successful attempt returned."""

    usage: TokenUsage
    cost_usd: float
    finish_reason: str
    # The model the upstream says answered.
    response_model: str
    # The answer, for the span when content capture is on; else None.
    output_text: str | None


class AttemptOutcome:
    """One attempt: its span while it runs, then its outcome, reported everywhere at once."""

    def __init__(self, planned: Planned, info: RequestInfo, sinks: Sinks) -> None:
        entry = planned.entry
        self.planned = planned
        self.info = info
        self.entry = entry
        self.record = Attempt(
            planned.number,
            entry.name,
            entry.provider.name,
            backoff_s=planned.backoff_s,
            breaker_state=planned.breaker_state,
            fallback_reason=planned.fallback_reason,
        )
        # The span's input is built only when tracing: nothing per attempt otherwise.
        self.span = (
            None
            if not tracing_enabled()
            else start_attempt_span(
                AttemptSpanInput(
                    entry,
                    planned.number,
                    backoff_s=planned.backoff_s,
                    breaker_state=planned.breaker_state,
                    fallback_reason=planned.fallback_reason,
                    retry_after_s=planned.retry_after_s,
                    streamed=info.streamed,
                    request=info.request,
                    capture_content=sinks.capture_content,
                    openinference=sinks.openinference,
                )
            )
        )
        # What the attempt used: zero unless it succeeded.
        self.usage = _UNUSED
        self.cost_usd = 0.0
        # Some count of ``usage`` is the router's estimate (see UsageEvent.usage_estimated).
        self.estimated = False
        # Streams: the usage the upstream reported before its end (the attempt's
        # ProviderCall.seen), for billing an attempt abandoned before it.
        self.seen = UsageSeen()
        self._sinks = sinks
        # Counted in its deployment's in flight until release() (router_svc.routing.balance).
        self._in_flight = True
        entry.outstanding += 1
        self.started = sinks.clock()

    def release(self) -> None:
        """The attempt's upstream call is over (answered, failed, cancelled, its stream ended):
        it no longer counts among its deployment's attempts in flight. Idempotent: every
        outcome calls it, and the engine again when the call ends whatever happened."""
        if self._in_flight:
            self._in_flight = False
            self.entry.outstanding -= 1

    def current(self) -> contextlib.AbstractContextManager[Any]:
        """Make the attempt's span current (so providers propagate it upstream)."""
        if self.span is None:
            return _NO_SPAN
        return trace.use_span(self.span, end_on_exit=False)

    @property
    def settled(self) -> bool:
        """Whether the outcome was reported (an attempt starts as "failed" with no error)."""
        return self.record.status != "failed" or bool(self.record.error_type)

    def _report(self, now: float) -> None:
        """Settle the attempt's budget hold at its cost, and record its usage event."""
        self.release()
        if self.planned.hold is not None:
            self.planned.hold.settle(self.cost_usd)
        self._sinks.record(usage_event(self, now))

    def first_token(self) -> None:
        """The first content arrived: note the time to first token."""
        self.record.ttft_s = self._sinks.clock() - self.started

    def succeeded(self, result: Success) -> None:
        """The attempt answered: close its span, credit the model and the budget, record usage."""
        attempt = self.record
        attempt.duration_s = self._sinks.clock() - self.started
        attempt.status = "succeeded"
        self.usage, self.cost_usd = result.usage, result.cost_usd
        # An answer whose upstream reported no usage (or some of it unreadably) is billed the
        # router's estimates: see router_svc.providers.counts.
        self.estimated = result.usage.estimated
        if self.span is not None:
            attempt_succeeded(
                self.span,
                response_model=result.response_model,
                input_tokens=result.usage.prompt_tokens,
                output_tokens=result.usage.completion_tokens,
                finish_reason=result.finish_reason,
                cost_usd=result.cost_usd,
                ttft_s=attempt.ttft_s,
                output_text=result.output_text,
                openinference_attributes=result_attributes(
                    result.response_model,
                    result.usage,
                    result.finish_reason,
                    cost_usd=result.cost_usd,
                    cost=self.entry.cost_parts(result.usage),
                    output_text=result.output_text,
                )
                if self._sinks.openinference
                else None,
            )
        if self.planned.reservation is not None:
            usage = result.usage
            self.planned.reservation.settle(usage.prompt_tokens + usage.completion_tokens)
        self.entry.breaker.record_success()
        now = self._sinks.wall_clock()
        self.entry.stats.observe(ok=True, latency_s=attempt.duration_s, now=now)
        self._sinks.budgets.of(self.entry.key).on_success()
        self._report(now)

    def failed(
        self, error: ProviderError, usage: TokenUsage | None = None, *, estimated: bool = True
    ) -> ProviderError:
        """The attempt failed with ``error`` (returned, for the schedule): report it everywhere.

        ``usage``: what it used all the same (a stream that broke after relaying content, a
        malformed answer's readable counts); ``estimated``: whether any of its counts is the
        router's estimate (False: all of them were reported by the upstream, as for a paused
        turn, unless ``usage`` says it is estimated)."""
        attempt = self.record
        if usage is not None:
            self.usage, self.cost_usd = usage, self.entry.cost(usage)
            self.estimated = estimated or usage.estimated
            if self.planned.reservation is not None:
                self.planned.reservation.settle(usage.prompt_tokens + usage.completion_tokens)
        attempt.duration_s = self._sinks.clock() - self.started
        attempt.status, attempt.error_type = "failed", error.reason
        public = self._sinks.public
        attempt.error_message = error.message
        if public is not None:
            attempt.error_message = public.logged(
                error.message,
                "request %s attempt %d on %s (provider %s) failed (%s)",
                self.info.request_id,
                attempt.number,
                attempt.model,
                attempt.provider,
                error.reason,
            )
            error.logged = True  # should it reach the caller, its request's line would repeat it
        attempt.http_status = error.http_status
        attempt.retry_after_s = error.retry_after
        attempt_failed(self.span, error.reason, error.message)
        # A failure that says nothing about the model's health (a request it cannot take)
        # only frees its half-open probe slot; only retryable failures spend the model's retry
        # budget.
        if error.counts_against_breaker:
            self.entry.breaker.record_failure()
        else:
            self.entry.breaker.record_release()
        if error.retryable:
            self._sinks.budgets.of(self.entry.key).on_failure()
        self.entry.stats.observe(
            ok=False,
            latency_s=attempt.duration_s,
            now=self._sinks.wall_clock(),
            error_type=error.reason,
        )
        self._report(self._sinks.wall_clock())
        return error

    def cancelled(self, usage: TokenUsage | None = None) -> None:
        """The caller went away mid-attempt: the model is not to blame, the usage still counts.

        ``usage``: what the attempt used until then (reported by the upstream so far, or
        estimated: see README, "Usage ledger"), billed at the model's price; None: nothing."""
        attempt = self.record
        if self.settled:
            return  # closed after its summary, or lost a hedge: reported already
        if usage is not None:
            # Never the whole upstream report: that would have settled the attempt.
            self.usage, self.cost_usd = usage, self.entry.cost(usage)
            self.estimated = True
        attempt.duration_s = self._sinks.clock() - self.started
        attempt.status, attempt.error_type = "cancelled", "CANCELLED"
        attempt_failed(self.span, "CANCELLED", "cancelled by the caller", cancelled=True)
        self.entry.breaker.record_release()
        self._report(self._sinks.wall_clock())

    def lost_hedge(self, prompt_tokens: int) -> None:
        """Another attempt of the request answered first; this one is about to be cancelled
        (see :mod:`.hedge`). Not the model's fault: only its half-open probe slot is freed. Its
        request was sent, and providers bill the prompt of a request they received: it is billed
        what its upstream reported so far (``seen``: Anthropic's ``message_start`` counts, cache
        reads and writes included), the prompt being ``prompt_tokens`` (the router's estimate)
        where it reported none, at the model's price. No-op once settled."""
        if self.settled:
            return
        seen = self.seen.usage
        attempt = self.record
        attempt.duration_s = self._sinks.clock() - self.started
        attempt.status, attempt.error_type = "cancelled", HEDGE_LOST
        attempt.error_message = "another attempt answered first"
        if seen is None:
            self.usage = TokenUsage(prompt_tokens=prompt_tokens)
        else:  # reported counts win over the estimate
            self.usage = replace(seen, prompt_tokens=seen.prompt_tokens or prompt_tokens)
        self.cost_usd = self.entry.cost(self.usage)
        # Even reported counts are the upstream's so far: it may have gone on.
        self.estimated = True
        attempt_failed(self.span, HEDGE_LOST, attempt.error_message, cancelled=True)
        self.entry.breaker.record_release()
        self._report(self._sinks.wall_clock())


def usage_event(outcome: AttemptOutcome, time: float) -> UsageEvent:
    """The usage event of a settled attempt, stamped with wall-clock ``time``."""
    attempt, planned, info = outcome.record, outcome.planned, outcome.info
    request = info.request
    return UsageEvent(
        request_id=info.request_id,
        attempt=attempt.number,
        time=time,
        provider=attempt.provider,
        model=attempt.model,
        category=info.category,
        task_type=request.task_type,
        source=request.source,
        api_key_id=request.api_key_id,
        team_id=request.team_id,
        prompt_tokens=outcome.usage.prompt_tokens,
        completion_tokens=outcome.usage.completion_tokens,
        cache_read_tokens=outcome.usage.cache_read_tokens,
        cache_write_tokens=outcome.usage.cache_write_tokens,
        reasoning_tokens=outcome.usage.reasoning_tokens,
        cost_usd=outcome.cost_usd,
        duration_s=attempt.duration_s,
        ttft_s=attempt.ttft_s,
        status=attempt.status,
        error_type=attempt.error_type,
        fallback=planned.fallback,
        fallback_from=planned.fallback_from,
        trace_id=info.trace_id,
        span_id=_span_id(outcome.span),
        client_request_id=request.client_request_id,
        front_door=request.front_door,
        fallback_reason=attempt.fallback_reason,
        metadata=request.metadata,
        local=outcome.entry.provider.local,
        streamed=info.streamed,
        usage_estimated=outcome.estimated,
        deployment=outcome.entry.deployment,
    )


def _span_id(span: trace.Span | None) -> str:
    """The attempt span's id when its trace is sampled: the ledger's ``usage.record`` span
    is its child, and a child of a span nobody exports would be an orphan."""
    if span is None:
        return ""
    context = span.get_span_context()
    return format(context.span_id, "016x") if context.trace_flags.sampled else ""
