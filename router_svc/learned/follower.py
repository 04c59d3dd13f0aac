"""Learning from feedback: scores of answers the predictor routed become labelled points.

A background task follows the metrics service's stored scores in order
(``MetricsService.ListFeedback`` from a cursor; :func:`router_svc.translate.feedback_reader`).
For each score of a request whose prompt vector this process still keeps
(:class:`.prompts.PromptVectors`), it adds the point (that vector, the model that served the
answer, the score) to the predictor, keyed by request id and score source: a user's second
thumbs on the same answer replaces the first, a judge's grade is a point of its own. Scores of
other requests (older, routed by another replica, or without a min_quality) are passed over.
Never on the request path; a failed read is logged once and retried after the poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from llmrouter.values import frozen

from ..registry import Registry
from .predictor import LearnedPredictor

__all__ = ["FeedbackFollower", "FeedbackPage", "ReadFeedback", "Scored"]

log = logging.getLogger(__name__)


@frozen
class Scored:
    """One stored score of an answer (ListFeedback's Feedback, the fields learning uses)."""

    request_id: str
    source: str
    model: str
    score: float
    sequence: int


@frozen
class FeedbackPage:
    """Scores after a cursor, in order, and the cursor of the next read."""

    scores: Sequence[Scored]
    last_sequence: int


# (after_sequence, page_size) -> the next page; raises on a failed read.
ReadFeedback = Callable[[int, int], Awaitable[FeedbackPage]]


class FeedbackFollower:
    """Follows the stored scores from ``read`` into ``predictor``: a full page is followed
    by the next at once, a short one by a pause of ``interval_s``."""

    def __init__(
        self,
        predictor: LearnedPredictor,
        read: ReadFeedback,
        registry: Registry,
        *,
        interval_s: float,
        page_size: int = 1000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._predictor = predictor
        self._read = read
        self._registry = registry
        self._interval = interval_s
        self._page = page_size
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._failing = ""
        # Where the next read starts, and what was learned (tests, logs).
        self.cursor = 0
        self.learned = 0

    def start(self) -> None:
        """Follow in a task of its own until :meth:`stop`."""
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name="llmrouter-feedback-follower"
        )

    async def stop(self) -> None:
        """End the task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def poll_once(self) -> int:
        """Read one page after the cursor and learn from it; the scores read. Raises what
        ``read`` raises (the cursor stays)."""
        page = await self._read(self.cursor, self._page)
        for scored in page.scores:
            self._learn(scored)
        self.cursor = max(self.cursor, page.last_sequence)
        self._predictor.prompts.expire()
        return len(page.scores)

    def _learn(self, scored: Scored) -> None:
        vector = self._predictor.recall(scored.request_id)
        if vector is None:
            return
        entry = self._registry.get(scored.model)
        if entry is None or not 0.0 <= scored.score <= 1.0:
            return
        try:
            self._predictor.learn(
                entry.name, vector, scored.score, f"{scored.request_id}\x00{scored.source}"
            )
        except ValueError as exc:  # a vector of another length than the points'
            log.warning("learned routing: feedback not learned (%s)", exc)
            return
        self.learned += 1

    async def _loop(self) -> None:
        while True:
            try:
                read = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                why = _why(exc)
                if why != self._failing:
                    log.warning(
                        "learned routing: reading feedback failed (%s); retrying every %g s",
                        why,
                        self._interval,
                    )
                    self._failing = why
                await self._sleep(self._interval)
                continue
            if self._failing:
                log.warning("learned routing: reading feedback works again")
                self._failing = ""
            if read < self._page:
                await self._sleep(self._interval)


def _why(exc: Exception) -> str:
    """A failed read in a few words: a gRPC status code, else the exception's type."""
    code = getattr(exc, "code", None)
    if callable(code):
        with contextlib.suppress(Exception):
            return str(code().name)
    return type(exc).__name__
