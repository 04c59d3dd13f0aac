"""Hedged requests: when an attempt is late, start the next candidate beside it and keep
whichever answers first.

``[router.retry] hedge_after_s`` (0, the default, turns hedging off). An attempt that has not
answered (whole answers) or sent its first token (streams) within ``hedge_after_s`` gets one
hedge: the candidate a failover would pick next (:meth:`.Schedule.hedge`: another deployment
of the model when it has one left, else another model; its breaker and the deadline apply),
started at once and run concurrently.

* The first success is relayed; the other attempt is cancelled, which closes its upstream
  request. Once a stream's first token is relayed, only that attempt's content follows (and
  a continuation, :mod:`.continuation`, continues it as usual).
* A failure of either attempt while the other runs waits for the other. When both fail,
  failover goes on from the hedge's model (a late model is not retried); an error that
  ends the request (an invalid request) ends it only when both failed.
* At most one hedge per request (gRFC A6 allows several): hedging at most doubles the
  upstream load of the slowest requests, never more.
* Both attempts are usage records and spans. The hedge's fallback reason is ``HEDGE``. The
  loser is ``cancelled`` with error type ``HEDGE_LOST`` and billed, at its model's price, the
  usage its upstream reported so far (a stream decoder's ``seen``), else the request's
  prompt-token estimate: providers bill the prompt processing of a request they
  received, and a loser is cancelled only after its request was started (we cannot see whether
  the upstream had read it: billing it is the cautious side). A lost hedge is no failure of
  the model: its breaker is not charged, a half-open probe slot is freed. An attempt whose
  upstream answered too (both within the moment the first answer is accepted) is not
  cancelled: it is billed as it succeeded, its upstream having billed it in full.
* Whole answers: the engine's ``accepted`` (the response headers) is awaited once, by the
  first attempt with an answer, before any usage of the request is recorded.

When hedging is off, the engine calls nothing here: no task, no timer per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

from ..chat import Completion
from ..errors import ContextLengthExceeded, ProviderError
from ..policies import RetryPolicy
from .continuation import Answer
from .outcome import AttemptOutcome
from .schedule import HEDGE, Planned
from .served import Run

__all__ = ["Hedging"]

# The engine's callback for an accepted upstream answer (the servicer sends response headers).
Accept = Callable[[], Awaitable[None]]
# What one streamed attempt yields: events, or (first and last) the failure to fail over from.
E = TypeVar("E")
# The first outcome of an attempt: an answer or first event, or the failure to fail over from.
T = TypeVar("T")


@dataclass(slots=True)  # not frozen: built per race (see .served.Run)
class _Lane(Generic[T]):
    """One attempt of a race and the task awaiting its first outcome."""

    attempt: AttemptOutcome
    head: asyncio.Task[T]


class Hedging(Generic[E]):
    """Runs a request's late attempt beside a hedge (one per engine; stateless per request).

    ``begin`` starts an attempt (its record and span), ``answer`` makes a whole-answer attempt
    (the completion, or the failure to fail over from), ``relay`` makes a streamed attempt
    that adds what it relays to an :class:`Answer`;
    ``sleep`` waits out ``after_s`` (injected, like the engine's, so tests drive it).
    """

    def __init__(
        self,
        after_s: float,
        sleep: Callable[[float], Awaitable[None]],
        begin: Callable[[Run, Planned], AttemptOutcome],
        answer: Callable[[AttemptOutcome, float, Accept], Awaitable[Completion | ProviderError]],
        relay: Callable[[Run, AttemptOutcome, Answer], AsyncGenerator[E, None]],
    ) -> None:
        self.after_s = after_s
        self._sleep = sleep
        self._begin = begin
        self._answer = answer
        self._relay = relay

    @classmethod
    def of(
        cls,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]],
        begin: Callable[[Run, Planned], AttemptOutcome],
        answer: Callable[[AttemptOutcome, float, Accept], Awaitable[Completion | ProviderError]],
        relay: Callable[[Run, AttemptOutcome, Answer], AsyncGenerator[E, None]],
    ) -> Hedging[E] | None:
        """The engine's hedging under ``retry`` (``hedge_after_s``), or None when it is off."""
        if retry.hedge_after_s <= 0:
            return None
        return cls(retry.hedge_after_s, sleep, begin, answer, relay)

    async def answer(
        self, run: Run, first: AttemptOutcome, accepted: Accept
    ) -> tuple[AttemptOutcome, Completion | ProviderError]:
        """The whole answer of ``first``, or of its hedge if that answers first, and whose it
        is; when both fail, the failure for the schedule and its attempt. ``accepted`` is
        awaited once, by the first attempt with an answer (the engine's contract)."""
        if self._hedged(run):
            return first, await self._answer(first, run.deadline, accepted)
        once = _Acceptance(accepted)

        async def head(attempt: AttemptOutcome) -> Completion | ProviderError:
            return await self._answer(attempt, run.deadline, once.by(attempt))

        lane, outcome = await self._race(run, first, head, once.answered)
        return lane.attempt, outcome

    def relay(self, run: Run, first: AttemptOutcome, answer: Answer) -> AsyncGenerator[E, None]:
        """The events of streamed attempt ``first``, or of its hedge if its first token comes
        first; like the engine's relay, a failure comes last. ``answer`` is the request's:
        whichever attempt wins, it holds what was relayed (for a continuation)."""
        if self._hedged(run):
            return self._relay(run, first, answer)
        return self._relay_race(run, first, answer)

    async def _relay_race(
        self, run: Run, first: AttemptOutcome, answer: Answer
    ) -> AsyncGenerator[E, None]:
        streams: dict[AttemptOutcome, tuple[AsyncGenerator[E, None], Answer]] = {}

        async def head(attempt: AttemptOutcome) -> E:
            # The hedge relays into an answer of its own: the first attempt's relay may still
            # take its first token into the request's in the moment the hedge wins.
            own = answer if attempt is first else Answer(keeps_text=answer.keeps_text)
            stream = self._relay(run, attempt, own)
            streams[attempt] = (stream, own)
            return await anext(stream)

        try:
            lane, event = await self._race(run, first, head)
            stream, own = streams[lane.attempt]
            _adopt(answer, own)
            yield event
            if not isinstance(event, ProviderError):
                async for event in stream:
                    _adopt(answer, own)
                    yield event
        finally:
            # The race is over: no stream is being advanced. Closing the winner's reports it
            # cancelled if the caller left; the others have ended or were cancelled already.
            for stream, _ in streams.values():
                await stream.aclose()

    @staticmethod
    def _hedged(run: Run) -> bool:
        """Whether the request made its one hedge already."""
        return any(attempt.fallback_reason == HEDGE for attempt in run.attempts)

    async def _race(
        self,
        run: Run,
        first: AttemptOutcome,
        head: Callable[[AttemptOutcome], Coroutine[Any, Any, T]],
        answered: Sequence[AttemptOutcome] = (),
    ) -> tuple[_Lane[T], T]:
        """``first``'s first outcome, or the hedge's if it comes first with a success.

        Returns the winning lane with its outcome; when every lane failed, the lane whose
        failure ends the request, else the last one, with its failure (the others' failures
        are noted in the schedule); an exception is raised only when no lane succeeded. Every
        lane's task has ended when this returns or raises. An attempt in ``answered`` holds its
        upstream's answer: it is never cancelled (its upstream billed it in full), and ends
        with its own outcome.
        """
        lanes = [_Lane(first, asyncio.create_task(head(first)))]
        try:
            timer = asyncio.ensure_future(self._sleep(self.after_s))
            try:
                await asyncio.wait((lanes[0].head, timer), return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
            if not lanes[0].head.done():
                planned = await run.schedule.hedge()
                if planned is not None:
                    second = self._begin(run, planned)
                    lanes.append(_Lane(second, asyncio.create_task(head(second))))
            return await self._first_success(run, lanes, answered)
        finally:
            running = [lane.head for lane in lanes if not lane.head.done()]
            for lane in lanes:
                if not lane.head.done() and lane.attempt not in answered:
                    lane.head.cancel()  # the caller left: the attempt reports itself cancelled
            if running:
                await asyncio.wait(running)
            for lane in lanes:
                if lane.head.cancelled():
                    if not lane.attempt.settled:  # cancelled before it began
                        lane.attempt.cancelled()
                elif lane.head.done():  # retrieve what nobody read, so asyncio does not log it
                    lane.head.exception()

    async def _first_success(
        self, run: Run, lanes: Sequence[_Lane[T]], answered: Sequence[AttemptOutcome]
    ) -> tuple[_Lane[T], T]:
        waiting = list(lanes)
        while waiting:
            await asyncio.wait([lane.head for lane in waiting], return_when=asyncio.FIRST_COMPLETED)
            done = [lane for lane in waiting if lane.head.done()]
            # The first with an answer first (whole answers), else the first attempt first.
            done.sort(key=lambda lane: _rank(lane.attempt, answered))
            for lane in done:
                waiting.remove(lane)
                if lane.head.exception() is None:
                    outcome = lane.head.result()
                    if not isinstance(outcome, ProviderError):
                        losers = [other for other in lanes if other is not lane]
                        self._cancel_losers(run, losers, answered)
                        return lane, outcome
        # Every lane failed: an error that ends the request is what the engine gets, else the
        # last lane's failure (the schedule goes on from its model); the others are noted.
        for lane in lanes:
            if (error := lane.head.exception()) is not None:
                raise error
        final = next((lane for lane in lanes if _ends(lane.head.result())), lanes[-1])
        for lane in lanes:
            failure = lane.head.result()
            if lane is not final and isinstance(failure, ProviderError):
                run.schedule.failed_beside(lane.attempt.entry.name, failure)
        return final, final.head.result()

    @staticmethod
    def _cancel_losers(
        run: Run, losers: Sequence[_Lane[Any]], answered: Sequence[AttemptOutcome]
    ) -> None:
        """Bill and cancel the attempts that did not win (one that ended, or holds its answer
        already, keeps its own outcome); :meth:`_race` waits for them to close their upstream
        requests."""
        for lane in losers:
            if lane.attempt not in answered:
                lane.attempt.lost_hedge(run.decision.estimated_prompt_tokens)
                lane.head.cancel()


class _Acceptance:
    """The engine's ``accepted`` for a race: awaited once, by the first attempt with an answer
    (the others wait for it), so the response headers go out once and before any usage of an
    answer is recorded."""

    def __init__(self, accepted: Accept) -> None:
        self._accepted = accepted
        self._lock = asyncio.Lock()
        self._done = False
        # The attempts that received their upstream's answer, in that order.
        self.answered: list[AttemptOutcome] = []

    def by(self, attempt: AttemptOutcome) -> Accept:
        """``accepted`` as ``attempt`` calls it."""

        async def accept() -> None:
            self.answered.append(attempt)
            async with self._lock:
                if not self._done:
                    await self._accepted()
                    self._done = True

        return accept


def _rank(attempt: AttemptOutcome, answered: Sequence[AttemptOutcome]) -> int:
    """Where ``attempt`` ranks among those that ended together: by answer, else last."""
    return answered.index(attempt) if attempt in answered else len(answered)


def _ends(outcome: object) -> bool:
    """Whether ``outcome`` is a failure that ends the request (no other model can do better)."""
    return (
        isinstance(outcome, ProviderError)
        and not outcome.retryable
        and not isinstance(outcome, ContextLengthExceeded)
    )


def _adopt(answer: Answer, own: Answer) -> None:
    """Make ``answer`` (the request's) what the winning hedge relayed into ``own``."""
    if own is not answer:
        for each in fields(Answer):
            setattr(answer, each.name, getattr(own, each.name))
