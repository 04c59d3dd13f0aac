"""Continuing a stream that broke after its first token on another model.

When a stream stalls (no chunk within ``stream_idle_timeout_s``) or breaks after content was
relayed, the failover engine asks the decision's later candidates that can continue an answer
(:attr:`ModelEntry.can_continue`) to do so: each gets the text already relayed as an assistant
prefill and its output is relayed after it, so the client sees one answer, with one finish.
This module holds what that needs besides relaying one attempt (the engine's, :mod:`.failover`):
the answer so far, the settling of the attempt that broke, the walk over the candidates that
may continue it (:class:`Continuation`), the seam between the two parts, and the final usage.

* Only text continues: an answer with a tool call in it ends with the interruption.
* A caller's ``max_tokens`` bounds the whole answer: a continuation is asked for what is left,
  and when nothing is left the answer ends with finish reason ``length`` (a continuer would
  otherwise be asked for a token more than the caller wanted).
* Each attempt is its own usage record; a broken attempt is billed what its upstream reported
  before it broke, else what it relayed, estimated (:func:`estimated_usage`), and the final
  summary's usage and cost are the sums over the attempts that produced the answer.
* A candidate that fails before adding content (a 400 for the prefill, a timeout) is passed
  over; when none is left the client gets the original ``StreamInterrupted``, never the
  candidate's error.
"""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from ..budgets import Refusal
from ..chat import ChatRequest, StreamDelta, StreamEnd, TokenUsage
from ..errors import BreakerOpen, ProviderError, StreamInterrupted
from ..policies import RetryPolicy
from ..registry import ModelEntry
from ..tokens import estimate_output_tokens, estimate_prompt_tokens
from .balance import choose
from .outcome import AttemptOutcome, Success
from .policy import Decision
from .schedule import Planned
from .served import Run, StreamStarted, StreamSummary

__all__ = [
    "Answer",
    "Broken",
    "Continuation",
    "Relayed",
    "Seam",
    "continuers",
    "estimated_usage",
    "may_continue",
    "settle_broken",
    "streamed_success",
]


@dataclass(slots=True)
class Answer:
    """A streamed answer as relayed to the client so far, across attempts."""

    # Text relayed, in order (only while ``keeps_text``).
    parts: list[str] = field(default_factory=list)
    # Whether the text is kept: only when a continuation may need it as its prefill or content
    # capture records it; otherwise nothing reads it, and a long stream would keep every chunk.
    keeps_text: bool = True
    # A tool call was relayed: the answer cannot be continued.
    tool_calls: bool = False
    # StreamStarted was yielded (once per request).
    started: bool = False
    # Usage and cost of the attempts that contributed to the answer.
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float = 0.0
    # The interruption the client gets if no continuation succeeds.
    interrupted: StreamInterrupted | None = None

    @property
    def text(self) -> str:
        """The text relayed so far ("" when the answer does not keep its text)."""
        return "".join(self.parts)

    def add(self, delta: StreamDelta) -> None:
        """Note ``delta`` as relayed."""
        if delta.content and self.keeps_text:
            self.parts.append(delta.content)
        if delta.tool_calls:
            self.tool_calls = True

    def bill(self, usage: TokenUsage, cost_usd: float) -> None:
        """Add one attempt's usage to the answer's."""
        self.usage = self.usage + usage
        self.cost_usd += cost_usd


@dataclass(frozen=True, slots=True)
class Broken:
    """A stream attempt broke after relaying content: ``error`` is what the client is told if
    nothing continues it, ``cause`` the attempt's own failure."""

    entry: ModelEntry
    error: StreamInterrupted
    cause: ProviderError


# What one streamed attempt yields to the engine: events to relay, then, if it failed, the
# failure that lets the schedule fail over, or, once it relayed content, Broken.
Relayed = StreamStarted | StreamDelta | StreamSummary | ProviderError | Broken


def streamed_success(entry: ModelEntry, end: StreamEnd, captured: str | None) -> Success:
    """A finished stream's outcome (with its text when capturing)."""
    return Success(
        usage=end.usage,
        cost_usd=entry.cost(end.usage),
        finish_reason=end.finish_reason,
        response_model=entry.upstream_model,
        output_text=captured,
    )


def settle_broken(
    attempt: AttemptOutcome,
    answer: Answer,
    cause: ProviderError,
    prefill: str,
    relayed_chars: int,
    message: str,
    seen: TokenUsage | None = None,
    reasoning_chars: int = 0,
) -> Broken:
    """Settle ``attempt``, sent ``prefill``, that broke (``cause``) after relaying
    ``relayed_chars`` characters (``reasoning_chars`` of them reasoning), its upstream having
    reported ``seen`` so far: billed for what it used (:func:`estimated_usage`), and
    ``message`` is the interruption the client gets if the answer is not continued."""
    usage = estimated_usage(attempt.info.request, prefill, relayed_chars, seen, reasoning_chars)
    attempt.failed(cause, usage)
    answer.bill(usage, attempt.cost_usd)
    error = StreamInterrupted(message)
    if answer.interrupted is None:
        answer.interrupted = error
    return Broken(attempt.entry, error, cause)


class Continuation:
    """Continues a broken stream on the decision's next models that can (one per engine;
    stateless per request).

    ``begin`` starts an attempt (its record and span) and ``relay`` makes a streamed attempt
    that adds what it relays to an :class:`Answer` (both the engine's); ``clock`` is the
    engine's monotonic clock, against which a continuation needs ``retry.min_attempt_s`` left.
    """

    def __init__(
        self,
        retry: RetryPolicy,
        clock: Callable[[], float],
        begin: Callable[[Run, Planned], AttemptOutcome],
        relay: Callable[[Run, AttemptOutcome, Answer], AsyncGenerator[Relayed, None]],
    ) -> None:
        self._min_attempt_s = retry.min_attempt_s
        self._clock = clock
        self._begin = begin
        self._relay = relay

    async def relay(
        self, run: Run, answer: Answer, broken: Broken
    ) -> AsyncGenerator[StreamDelta | StreamSummary, None]:
        """Continue ``answer`` after ``broken`` on the decision's next models that can, each
        tried once; raise the original interruption when none does."""
        passed: list[str] = []
        cause, queue = broken.cause, list(continuers(run.decision, broken.entry))
        # The model whose text is continued: the continuation falls back from it (not from the
        # request's latest attempt, which may be a cancelled hedge or a continuer that failed).
        author = broken.entry.name
        limit = run.info.request.output_limit
        while queue and not answer.tool_calls:
            if limit is not None and answer.usage.completion_tokens >= limit:
                # The caller's limit (for the whole answer) is spent: the answer ends as it
                # would have at the limit, not with a continuation asked for nothing.
                yield StreamSummary(
                    entry=broken.entry,
                    finish_reason="length",
                    usage=answer.usage,
                    cost_usd=answer.cost_usd,
                    attempts=tuple(run.attempts),
                    fallback=run.fallback(broken.entry),
                )
                return
            entry = queue.pop(0)
            if run.deadline - self._clock() < self._min_attempt_s:
                break
            held = await run.schedule.budget_hold(entry)
            if isinstance(held, Refusal):
                passed.append(f"{entry.name}: {held.describe()}")
                continue
            state = entry.breaker.state.value
            if not entry.breaker.allow():
                if held is not None:
                    held.give_back()
                passed.append(f"{entry.name}: {BreakerOpen.reason}")
                continue
            attempt = self._begin(
                run, Planned(entry, len(run.attempts) + 1, 0.0, state, cause, author, hold=held)
            )
            outcome: ProviderError | Broken | None = None
            async with aclosing(self._relay(run, attempt, answer)) as relayed:
                async for event in relayed:
                    if isinstance(event, ProviderError | Broken):
                        outcome = event
                    elif not isinstance(event, StreamStarted):
                        yield event
            if outcome is None:
                return  # the summary was relayed
            if isinstance(outcome, Broken):
                # It added to the answer, then broke too: continue after it.
                cause, queue = outcome.cause, list(continuers(run.decision, entry))
                author = entry.name
            else:
                passed.append(f"{entry.name}: {outcome.reason}")
        error = answer.interrupted or broken.error
        if passed:
            # Said, never substituted: the client is told why the answer broke off.
            error = StreamInterrupted(f"{error.message}; not continued ({', '.join(passed)})")
        raise error


class Seam:
    """Joins a continuation to the text before it: when that text ends in whitespace, the
    continuation's leading whitespace is dropped (Anthropic refuses a prefill that ends in
    whitespace, so it gets the text without it and its continuation starts with it again).
    Reasoning text (a thinking continuer's) is relayed as it comes and leaves the seam open:
    it is not part of the text continued, and is never replayed to a continuer."""

    def __init__(self, before: str) -> None:
        self._open = bool(before) and before[-1].isspace()

    def join(self, delta: StreamDelta) -> StreamDelta | None:
        """``delta`` as it continues the text, or None when nothing of it is left."""
        if not self._open or delta.tool_calls:
            return delta
        content = delta.content.lstrip()
        if not content and not delta.refusal:
            return replace(delta, content="") if delta.reasoning_content else None
        self._open = False
        return replace(delta, content=content)


def may_continue(decision: Decision) -> bool:
    """Whether some model of ``decision`` (or another deployment of the first) could continue
    an answer another one started."""
    candidates = decision.candidates
    if candidates and any(d.can_continue for d in candidates[0].deployments[1:]):
        return True
    return any(candidate.entry.can_continue for candidate in candidates[1:])


def continuers(decision: Decision, after: ModelEntry) -> Iterator[ModelEntry]:
    """What may continue an answer ``after`` (a deployment) broke, in order, those that can:
    the deployments of its model listed after it, then the decision's later candidates, one
    deployment each (the model's balancing picks it when it has several). Always onwards in
    that order, so continuations end."""
    candidates = decision.candidates
    start = next(
        (i for i, c in enumerate(candidates) if c.entry.name == after.name), len(candidates)
    )
    if start < len(candidates):
        deployments = candidates[start].deployments
        position = next((i for i, d in enumerate(deployments) if d is after), len(deployments))
        for deployment in deployments[position + 1 :]:
            if deployment.can_continue:
                yield deployment
    for candidate in candidates[start + 1 :]:
        able = [d for d in candidate.deployments or (candidate.entry,) if d.can_continue]
        if len(able) > 1:
            yield able[choose(able, [True] * len(able), random.random)]
        elif able:
            yield able[0]


def estimated_usage(
    request: ChatRequest,
    prefill: str,
    relayed_chars: int,
    seen: TokenUsage | None = None,
    reasoning_chars: int = 0,
) -> TokenUsage:
    """What a stream sent ``prefill`` that ended before its usage (broke, stalled, or was
    abandoned by the caller) after relaying ``relayed_chars`` characters (text, reasoning and
    tool arguments; ``reasoning_chars`` of them reasoning) used, marked estimated. The prompt:
    the count the upstream reported in ``seen`` (Anthropic's ``message_start``), else the
    router's estimate; the completion: the larger of the count reported and one token per four
    characters relayed (a count reported at the start lags the text sent after it); the
    reasoning, part of the completion: likewise, from the reasoning relayed. Other counts in
    ``seen`` (cache reads and writes) are kept."""
    relayed = estimate_output_tokens(relayed_chars)
    reasoned = estimate_output_tokens(reasoning_chars)
    if seen is None:
        prompt = estimate_prompt_tokens(request) + estimate_output_tokens(len(prefill))
        return TokenUsage(prompt, relayed, reasoning_tokens=reasoned, estimated=True)
    prompt = seen.prompt_tokens or estimate_prompt_tokens(request) + estimate_output_tokens(
        len(prefill)
    )
    return replace(
        seen,
        prompt_tokens=prompt,
        completion_tokens=max(seen.completion_tokens, relayed),
        reasoning_tokens=max(seen.reasoning_tokens, reasoned),
        estimated=True,
    )
