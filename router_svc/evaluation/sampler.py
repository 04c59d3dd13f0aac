"""Sampling answers for evaluation: chosen on the request path, stored off it.

:class:`SamplingEngine` sits in front of the engine the servicer calls (the response cache's):
after a successful answer it draws one random number and, for the ``sample_rate`` share that
is chosen, hands the request and the answer to :class:`Sampler` (a bounded in-memory queue;
nothing is awaited). A stream is chosen when it starts, and only a chosen stream's deltas are
gathered. The sampler's task writes the queue to the admin store in batches, within
``max_pending``, and deletes samples older than ``retention_s``.

Not sampled: response-cache hits (no new answer), continuations of a final message (the answer
is only the rest), and answers that did not finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..admin_store import AdminStoreError, NewSample
from ..chat import ChatRequest, StreamDelta
from ..routing.outcome import no_wait
from ..routing.served import Served, StreamStarted, StreamSummary
from .config import EvaluationConfig
from .judge import messages_json, render_answer

if TYPE_CHECKING:
    from ..admin_store import EvalSamples
    from ..cache.serving import CachingEngine
    from ..routing.failover import Engine

__all__ = ["QUEUE_SIZE", "Sampler", "SamplingEngine"]

log = logging.getLogger(__name__)
# aiosqlite logs each call with its arguments at DEBUG: the samples' prompts and answers.
_DRIVER_LOG = "aiosqlite"

#: Sampled answers waiting for the store at most; more are dropped (counted).
QUEUE_SIZE = 1000
# Most samples one store transaction writes.
_BATCH = 100
# Seconds between deletions of samples past retention_s while nothing else wakes the writer.
_PURGE_EVERY_S = 60.0

Event = StreamStarted | StreamDelta | StreamSummary


@dataclass(frozen=True, slots=True)
class _Chosen:
    """A sampled answer as the request path hands it over (serialised by the writer)."""

    request: ChatRequest
    request_id: str
    model: str
    category: str
    answer: str
    time: float


class Sampler:
    """Chooses the answers to keep and writes them to ``store`` in the background."""

    def __init__(
        self,
        config: EvaluationConfig,
        store: EvalSamples,
        *,
        rand: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        # Content goes into SQL parameters from here on: never into a debug log.
        driver = logging.getLogger(_DRIVER_LOG)
        if driver.getEffectiveLevel() < logging.INFO:
            driver.setLevel(logging.INFO)
        self._rate = config.sample_rate
        self._max_pending = config.max_pending
        self._retention = timedelta(seconds=config.retention_s)
        self._store = store
        self._rand = rand
        self._wall = wall_clock
        self._queue: deque[_Chosen] = deque()
        self._queue_size = queue_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._purged = 0.0
        # Whether the last write failed: an outage is logged once, not once per batch.
        self._failing = False
        #: Samples stored, and dropped: the queue was full, the store held max_pending, or
        #: the store failed (for tests and logs).
        self.stored = 0
        self.dropped = 0

    def chosen(self, request: ChatRequest) -> bool:
        """Whether to sample ``request``'s answer (one random draw; on the request path)."""
        return not request.prefill and self._rand() < self._rate

    def offer(
        self, request: ChatRequest, request_id: str, model: str, category: str, answer: str
    ) -> None:
        """Queue a chosen answer for the store; never waits (a full queue drops it)."""
        if not answer:
            return
        if len(self._queue) >= self._queue_size:
            self.dropped += 1
            return
        self._queue.append(_Chosen(request, request_id, model, category, answer, self._wall()))
        self._wake.set()

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="llmrouter-evaluation-sampler"
        )

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Write what is queued (within ``timeout_s``), then stop the writer."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({self._task}, timeout=timeout_s)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def flush(self) -> None:
        """Write every queued sample now."""
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))]
            await self._write(batch)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_PURGE_EVERY_S):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()
            if self._wall() - self._purged >= _PURGE_EVERY_S:
                await self._purge()

    async def _write(self, batch: list[_Chosen]) -> None:
        samples = [
            NewSample(
                request_id=c.request_id,
                model=c.model,
                category=c.category,
                create_time=datetime.fromtimestamp(c.time, UTC),
                messages_json=messages_json(c.request),
                answer=c.answer,
            )
            for c in batch
        ]
        try:
            stored = await self._store.add(samples, self._max_pending)
        except AdminStoreError as exc:
            self.dropped += len(samples)
            if not self._failing:
                self._failing = True
                log.warning("evaluation: samples not stored (%s); dropped until it works", exc)
            return
        if self._failing:
            self._failing = False
            log.warning("evaluation: samples are stored again")
        self.stored += stored
        self.dropped += len(samples) - stored

    async def _purge(self) -> None:
        self._purged = self._wall()
        before = datetime.fromtimestamp(self._purged, UTC) - self._retention
        try:
            deleted = await self._store.purge(before)
        except AdminStoreError as exc:
            log.warning("evaluation: expired samples not deleted (%s)", exc)
            return
        if deleted:
            log.info("evaluation: %d samples older than retention_s deleted ungraded", deleted)


class SamplingEngine:
    """``complete`` and ``stream`` of ``engine``, handing chosen answers to ``sampler``."""

    def __init__(self, engine: Engine | CachingEngine, sampler: Sampler) -> None:
        self.engine = engine
        self._sampler = sampler

    async def complete(
        self,
        request: ChatRequest,
        deadline: float,
        accepted: Callable[[], Awaitable[None]] = no_wait,
    ) -> Served:
        """As the engine's; a chosen answer (not a cache hit) is offered to the sampler."""
        served = await self.engine.complete(request, deadline, accepted)
        if served.cache != "hit" and self._sampler.chosen(request):
            completion = served.completion
            answer = render_answer(
                completion.content, [(c.name, c.arguments) for c in completion.tool_calls]
            )
            self._sampler.offer(
                request, served.request_id, served.entry.name, served.decision.category, answer
            )
        return served

    def stream(self, request: ChatRequest, deadline: float) -> AsyncGenerator[Event, None]:
        """As the engine's; a stream not chosen is the engine's own, untouched."""
        events = self.engine.stream(request, deadline)
        if not self._sampler.chosen(request):
            return events
        return self._gathered(request, events)

    async def _gathered(
        self, request: ChatRequest, events: AsyncGenerator[Event, None]
    ) -> AsyncGenerator[Event, None]:
        started: StreamStarted | None = None
        summary: StreamSummary | None = None
        text: list[str] = []
        calls: dict[int, list[str]] = {}
        async with aclosing(events) as relayed:
            async for event in relayed:
                if isinstance(event, StreamDelta):
                    text.append(event.content)
                    for call in event.tool_calls:
                        name_args = calls.setdefault(call.index, ["", ""])
                        name_args[0] += call.name
                        name_args[1] += call.arguments
                elif isinstance(event, StreamStarted):
                    started = event
                else:
                    summary = event
                yield event
        if started is None or summary is None or started.cache == "hit":
            return
        answer = render_answer("".join(text), [(n, a) for n, a in calls.values()])
        # The model that finished the answer (a continued stream ends on another one).
        self._sampler.offer(
            request, started.request_id, summary.entry.name, started.category, answer
        )
