"""Serving a request: walk the decision's candidates until one answers, within the deadline.

Every attempt, successful or not, becomes a usage event handed to ``record`` (which must not
block). Streams fail over only until their first content is relayed; after that a failure ends
the stream with an error, never with a truncated answer that looks complete.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ..chat import ChatRequest, Completion, StreamDelta, StreamEnd, TokenUsage
from ..errors import (
    AllCandidatesFailed,
    DeadlineExceeded,
    MalformedResponse,
    NoCandidates,
    ProviderError,
    RouterError,
    StreamInterrupted,
    UpstreamTimeout,
)
from ..registry import ModelEntry
from ..usage import UsageEvent
from .policy import Decision, Policy

__all__ = ["Attempt", "Engine", "Served", "StreamStarted", "StreamSummary"]


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


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """Emitted once, before the first delta: the model whose output follows."""

    request_id: str
    entry: ModelEntry
    category: str
    create_time: float


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
    trace_id: str = ""


class Engine:
    """Serves requests over the registry with failover; clock and usage sink are injected."""

    def __init__(
        self,
        policy: Policy,
        record: Callable[[UsageEvent], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._record = record
        self._clock = clock
        self._wall = wall_clock

    def _start(self, request: ChatRequest, streamed: bool) -> _Run:
        decision = self._policy.decide(request)
        if not decision.candidates:
            reasons = "; ".join(f"{s.model}: {s.detail}" for s in decision.skipped)
            raise NoCandidates(
                f"no model of category {decision.category!r} can serve this request"
                + (f" ({reasons})" if reasons else "")
            )
        request_id = request.request_id or uuid.uuid4().hex
        return _Run(request, request_id, decision, streamed)

    async def complete(self, request: ChatRequest, deadline: float) -> Served:
        """Answer ``request`` before monotonic time ``deadline``."""
        run = self._start(request, streamed=False)
        last_error: ProviderError | None = None
        for candidate in run.decision.candidates:
            entry = candidate.entry
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            attempt = self._new_attempt(run, entry)
            started = self._clock()
            try:
                async with asyncio.timeout(remaining):
                    completion = await entry.provider.complete(
                        entry.upstream_model, request, remaining
                    )
            except TimeoutError:
                error: ProviderError = UpstreamTimeout(
                    f"{entry.name} did not answer within the deadline"
                )
                self._finish(run, attempt, entry, started, error=error)
                break
            except ProviderError as exc:
                self._finish(run, attempt, entry, started, error=exc)
                if not exc.retryable:
                    raise
                last_error = exc
                continue
            except asyncio.CancelledError:
                self._finish(run, attempt, entry, started, cancelled=True)
                raise
            cost = entry.cost(completion.usage)
            self._finish(run, attempt, entry, started, usage=completion.usage, cost=cost)
            return Served(
                request_id=run.request_id,
                entry=entry,
                completion=completion,
                cost_usd=cost,
                attempts=tuple(run.attempts),
                decision=run.decision,
                create_time=self._wall(),
                fallback=entry is not run.decision.candidates[0].entry,
            )
        raise self._exhausted(run, last_error, deadline)

    async def stream(
        self, request: ChatRequest, deadline: float
    ) -> AsyncIterator[StreamStarted | StreamDelta | StreamSummary]:
        """Stream the answer; fail over only before the first delta is yielded."""
        run = self._start(request, streamed=True)
        last_error: ProviderError | None = None
        for candidate in run.decision.candidates:
            entry = candidate.entry
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            attempt = self._new_attempt(run, entry)
            started = self._clock()
            upstream = entry.provider.stream(entry.upstream_model, request, remaining)
            committed = False
            content_chunks = 0
            try:
                async for event in _bounded(upstream, deadline, self._clock):
                    if isinstance(event, StreamEnd):
                        if not committed:
                            attempt.ttft_s = self._clock() - started
                            yield self._started(run, entry)
                            committed = True
                        cost = entry.cost(event.usage)
                        self._finish(run, attempt, entry, started, usage=event.usage, cost=cost)
                        yield StreamSummary(
                            entry=entry,
                            finish_reason=event.finish_reason,
                            usage=event.usage,
                            cost_usd=cost,
                            attempts=tuple(run.attempts),
                            fallback=entry is not run.decision.candidates[0].entry,
                        )
                        return
                    if not committed:
                        attempt.ttft_s = self._clock() - started
                        yield self._started(run, entry)
                        committed = True
                    content_chunks += 1
                    yield event
                raise MalformedResponse(f"{entry.name} ended its stream without finishing")
            except TimeoutError:
                error: ProviderError = UpstreamTimeout(
                    f"{entry.name} did not finish within the deadline"
                )
                self._finish(run, attempt, entry, started, error=error)
                if committed:
                    raise StreamInterrupted(
                        f"{entry.name} stalled after {content_chunks} chunks; deadline exceeded"
                    ) from None
                break
            except ProviderError as exc:
                self._finish(run, attempt, entry, started, error=exc)
                if committed:
                    raise StreamInterrupted(
                        f"{entry.name} failed after {content_chunks} chunks: {exc.reason}"
                    ) from None
                if not exc.retryable:
                    raise
                last_error = exc
                continue
            except (asyncio.CancelledError, GeneratorExit):
                self._finish(run, attempt, entry, started, cancelled=True)
                raise
            finally:
                await upstream.aclose()  # type: ignore[attr-defined]
        raise self._exhausted(run, last_error, deadline)

    def _started(self, run: _Run, entry: ModelEntry) -> StreamStarted:
        return StreamStarted(run.request_id, entry, run.decision.category, self._wall())

    def _exhausted(self, run: _Run, last: ProviderError | None, deadline: float) -> RouterError:
        tried = ", ".join(f"{a.model}: {a.error_type}" for a in run.attempts)
        if self._clock() >= deadline or (last is None and run.attempts):
            return DeadlineExceeded(
                f"deadline exceeded after {len(run.attempts)} attempts ({tried})"
            )
        if last is None:
            return DeadlineExceeded("deadline exceeded before any attempt could start")
        return AllCandidatesFailed(
            f"all {len(run.attempts)} attempts failed ({tried})", retry_after=last.retry_after
        )

    def _new_attempt(self, run: _Run, entry: ModelEntry) -> Attempt:
        attempt = Attempt(len(run.attempts) + 1, entry.name, entry.provider.name)
        run.attempts.append(attempt)
        return attempt

    def _finish(
        self,
        run: _Run,
        attempt: Attempt,
        entry: ModelEntry,
        started: float,
        *,
        usage: TokenUsage | None = None,
        cost: float = 0.0,
        error: ProviderError | None = None,
        cancelled: bool = False,
    ) -> None:
        attempt.duration_s = self._clock() - started
        if error is not None:
            attempt.status, attempt.error_type = "failed", error.reason
            attempt.error_message = error.message
            attempt.http_status = error.http_status
        elif cancelled:
            attempt.status, attempt.error_type = "cancelled", "CANCELLED"
        else:
            attempt.status = "succeeded"
        usage = usage or TokenUsage()
        previous = run.attempts[-2].model if len(run.attempts) > 1 else ""
        request = run.request
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
                fallback=attempt.number > 1,
                fallback_from=previous,
                trace_id=run.trace_id,
                metadata=request.metadata,
                local=entry.provider.local,
                streamed=run.streamed,
            )
        )


async def _bounded(
    source: AsyncIterator[StreamDelta | StreamEnd], deadline: float, clock: Callable[[], float]
) -> AsyncIterator[StreamDelta | StreamEnd]:
    """Yield from ``source``; each wait for the next event ends at ``deadline``."""
    iterator = aiter(source)
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            try:
                event = await anext(iterator)
            except StopAsyncIteration:
                return
        yield event
