"""Serving an embedding request: batches to the model's limit, failover over embedding models.

The chat engine's parts are reused as they are: :class:`.schedule.Schedule` paces the attempts
(retries with backoff, Retry-After, retry budgets, breakers, quotas, budgets, one deadline),
:class:`.outcome.AttemptOutcome` reports each attempt to its span, the model's breaker and
health and the usage ledger (one usage record per attempt, as chat's). Only the attempt
itself is this module's:

* Batching: inputs beyond the model's ``max_inputs_per_request`` (else its provider kind's
  limit) are split into upstream calls of at most that many, :data:`BATCH_CONCURRENCY` at a
  time, whose vectors are put back in input order; the attempt's usage is their sum, billed
  at the model's input price.
* One model per answer: when any call of an attempt fails, the attempt's other calls are
  cancelled and the attempt fails as a whole; the next attempt (a retry of the same model, or
  the next embedding model of the chain) embeds every input again. Vectors of two models are
  never mixed in one answer. The failed attempt is billed what its finished calls reported,
  plus the router's estimate for calls that were sent and cut short.
* Hedging does not apply to embeddings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from llmrouter.request_ids import ERROR_INFO_REQUEST_ID, new_request_id
from llmrouter.values import frozen

from ..chat import ChatRequest, TokenUsage
from ..embeddings import EmbedCall, Embeddings, EmbedRequest, estimate_tokens
from ..errors import ContextLengthExceeded, ProviderError, RouterError, UpstreamTimeout
from ..registry import ModelEntry
from ..telemetry import current_trace_id
from .embed_policy import decide_embeddings, embed_refusal
from .outcome import Attempt, AttemptOutcome, RequestInfo, Sinks, Success, no_wait
from .policy import Decision, Policy
from .schedule import Pacing, Schedule

__all__ = ["BATCH_CONCURRENCY", "EmbedServed", "Embedder", "batches_of"]

# Upstream calls one attempt has in flight at once (the rest wait their turn).
BATCH_CONCURRENCY = 4


@frozen
class EmbedServed:
    """An embedding answer and how it was obtained."""

    request_id: str
    entry: ModelEntry
    # One vector per input, in input order, all from ``entry``.
    vectors: tuple[tuple[float, ...], ...]
    # The serving attempt's calls together; cost at the model's prices.
    usage: TokenUsage
    cost_usd: float
    attempts: tuple[Attempt, ...]
    decision: Decision
    create_time: float
    fallback: bool
    upstream_calls: int
    trace_id: str = ""


def batches_of(inputs: tuple[str, ...], size: int) -> list[tuple[str, ...]]:
    """``inputs`` in consecutive slices of at most ``size`` (at least 1), in order."""
    size = max(size, 1)
    return [inputs[i : i + size] for i in range(0, len(inputs), size)]


def batch_limit(entry: ModelEntry) -> int:
    """The most inputs one upstream call to ``entry`` carries: its ``max_inputs_per_request``,
    else its provider kind's limit."""
    return entry.config.max_inputs_per_request or entry.provider.max_inputs or 1


class Embedder:
    """Serves embedding requests with the chat engine's pacing and sinks (clocks injected
    through them)."""

    def __init__(
        self,
        policy: Policy,
        pacing: Pacing,
        sinks: Sinks,
        *,
        concurrency: int = BATCH_CONCURRENCY,
    ) -> None:
        """``pacing`` and ``sinks``: the chat engine's (:attr:`Engine.pacing`,
        :attr:`Engine.sinks`): the same retry rules, budgets, quotas and usage ledger."""
        self._policy = policy
        self._pacing = pacing
        self._sinks = sinks
        self._concurrency = max(concurrency, 1)

    async def embed(
        self,
        request: EmbedRequest,
        deadline: float,
        accepted: Callable[[], Awaitable[None]] = no_wait,
    ) -> EmbedServed:
        """Embed ``request`` before monotonic time ``deadline``; ``accepted`` is awaited when
        an attempt's every call answered, before its usage is recorded (as the chat engine's).

        Raises a RouterError: the decision's (unknown model, a chat model, none available) or
        the schedule's when every attempt failed; each names the request id in its metadata.
        """
        decision = decide_embeddings(self._policy, request)
        if not decision.candidates:
            raise embed_refusal(decision, self._policy.registry)
        carrier = request.as_chat()
        info = RequestInfo(
            request=carrier,
            request_id=new_request_id(),
            category=decision.category,
            streamed=False,
            trace_id=current_trace_id(),
        )
        tokens = decision.estimated_prompt_tokens
        schedule = Schedule(
            decision.candidates,
            deadline,
            self._pacing,
            passed_over=decision.passed_over,
            skipped=decision.skipped,
            tokens=tokens,
            request=carrier,
            prompt_tokens=tokens,
        )
        attempts: list[Attempt] = []
        try:
            failure: ProviderError | None = None
            while (planned := await schedule.next(failure)) is not None:
                attempt = AttemptOutcome(planned, info, self._sinks)
                attempts.append(attempt.record)
                result = await self._attempt(attempt, request, carrier, deadline, accepted)
                if isinstance(result, ProviderError):
                    failure = result
                    continue
                vectors, calls = result
                await self._sinks.durable()
                entry = attempt.entry
                return EmbedServed(
                    request_id=info.request_id,
                    entry=entry,
                    vectors=vectors,
                    usage=attempt.usage,
                    cost_usd=attempt.cost_usd,
                    attempts=tuple(attempts),
                    decision=decision,
                    create_time=self._pacing.timing.wall_clock(),
                    fallback=bool(decision.passed_over)
                    or entry.name != decision.candidates[0].entry.name,
                    upstream_calls=calls,
                    trace_id=info.trace_id,
                )
            raise schedule.give_up()
        except RouterError as exc:
            exc.metadata[ERROR_INFO_REQUEST_ID] = info.request_id
            await self._sinks.durable()
            raise

    async def _attempt(
        self,
        attempt: AttemptOutcome,
        request: EmbedRequest,
        carrier: ChatRequest,
        deadline: float,
        accepted: Callable[[], Awaitable[None]],
    ) -> tuple[tuple[tuple[float, ...], ...], int] | ProviderError:
        """One attempt: every batch on ``attempt.entry``; the vectors in order and the number
        of calls, or the failure to fail over from (a failure that cannot be is raised)."""
        entry, clock = attempt.entry, self._pacing.timing.clock
        retry = self._pacing.retry
        ends = deadline
        if retry.attempt_timeout_s > 0:
            ends = min(ends, attempt.started + retry.attempt_timeout_s)
        batches = batches_of(request.inputs, batch_limit(entry))
        answers: list[Embeddings | None] = [None] * len(batches)
        sent = [False] * len(batches)
        turn = asyncio.Semaphore(self._concurrency)

        async def call(i: int, inputs: tuple[str, ...]) -> None:
            async with turn:
                left = ends - clock()
                if left <= 0:
                    raise UpstreamTimeout(f"{entry.name} did not answer in time")
                sent[i] = True
                dimensions = entry.config.dimensions
                answers[i] = await entry.provider.embed(
                    EmbedCall(entry.upstream_model, inputs, left, dimensions, request, carrier)
                )

        with attempt.current():
            tasks = [asyncio.create_task(call(i, b)) for i, b in enumerate(batches)]
        try:
            _, pending = await asyncio.wait(
                tasks, timeout=max(ends - clock(), 0.0), return_when=asyncio.FIRST_EXCEPTION
            )
        except asyncio.CancelledError:
            await _cancel(tasks)
            # Calls sent were received: billed what they reported, else the estimate.
            attempt.cancelled(_used(batches, answers, sent, estimate_unfinished=True))
            raise
        error = _first_error(tasks)
        if error is None and pending:
            error = UpstreamTimeout(f"{entry.name} did not answer in time")
        if error is not None:
            await _cancel(tasks)
            used = _used(batches, answers, sent, estimate_unfinished=True)
            attempt.failed(error, used if used.prompt_tokens else None, estimated=used.estimated)
            if not error.retryable and not isinstance(error, ContextLengthExceeded):
                raise error
            return error
        usage = _used(batches, answers, sent, estimate_unfinished=False)
        model = next((a.upstream_model for a in answers if a is not None), "")
        try:
            await accepted()
        finally:
            # Recorded whatever became of the caller meanwhile: the upstream answered.
            attempt.succeeded(
                Success(
                    usage=usage,
                    cost_usd=entry.cost(usage),
                    finish_reason="stop",
                    response_model=model,
                    output_text=None,
                )
            )
        vectors = tuple(v for a in answers if a is not None for v in a.vectors)
        return vectors, len(batches)


def _first_error(tasks: list[asyncio.Task[None]]) -> ProviderError | None:
    """The failure of the first call (in input order) that failed; an unexpected exception
    is raised as it is."""
    for task in tasks:
        if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
            if isinstance(exc, ProviderError):
                return exc
            raise exc
    return None


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the calls still running and wait for them to end (their connections close)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _used(
    batches: list[tuple[str, ...]],
    answers: list[Embeddings | None],
    sent: list[bool],
    *,
    estimate_unfinished: bool,
) -> TokenUsage:
    """The usage of an attempt's calls: each answer's, plus (``estimate_unfinished``) the
    router's estimate for each call sent and never answered (marked estimated)."""
    total = TokenUsage()
    for inputs, answer, was_sent in zip(batches, answers, sent, strict=True):
        if answer is not None:
            total = total + answer.usage
        elif was_sent and estimate_unfinished:
            total = total + TokenUsage(prompt_tokens=estimate_tokens(inputs), estimated=True)
    return total
