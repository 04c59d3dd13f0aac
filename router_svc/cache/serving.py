"""The response cache in front of the failover engine: look up before routing, store after a
complete answer, replay a hit as the caller asked (whole or streamed), record it in the ledger.

A hit makes no upstream call and is one usage record with source ``cache``, cost 0 and
``saved_cost_usd`` the cost of the answer when it was served. The store failing (Redis away,
a timeout, an entry that does not decode) is a miss, logged; serving never fails for it.

Each request through an enabled cache is counted once by result (``lookups``, the router's
``llmrouter_cache_lookups_total``): ``hit``; ``miss`` (nothing stored, or its model left the
registry); ``error`` (the store did not answer or held an unreadable entry: served as a miss);
``bypass`` (not looked up: the request did not ask, asked for log probabilities, or its
category has ``cache = false``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import replace

from llmrouter.request_ids import new_request_id
from llmrouter.shared_state import StateUnavailable

from ..chat import ChatRequest, StreamDelta
from ..registry import ModelEntry
from ..routing.failover import Engine
from ..routing.outcome import no_wait
from ..routing.policy import Decision, Policy
from ..routing.served import Served, StreamStarted, StreamSummary
from ..telemetry import current_trace_id
from ..translate.chat_checks import RESERVED_SOURCE
from ..usage import UsageEvent
from .config import CacheConfig
from .entry import CachedAnswer, StreamRecorder
from .key import cache_key
from .store import AnswerStore

__all__ = ["CACHE_SOURCE", "LOOKUP_RESULTS", "CachingEngine"]

log = logging.getLogger(__name__)

# The usage record's source of a hit.
CACHE_SOURCE = RESERVED_SOURCE
# What a lookup found (the ``result`` label of llmrouter_cache_lookups_total).
HIT, MISS, BYPASS, ERROR = "hit", "miss", "bypass", "error"
LOOKUP_RESULTS = (HIT, MISS, BYPASS, ERROR)
Event = StreamStarted | StreamDelta | StreamSummary


class CachingEngine:
    """:class:`Engine`'s ``complete`` and ``stream`` with the response cache in front."""

    def __init__(
        self,
        engine: Engine,
        policy: Policy,
        store: AnswerStore,
        config: CacheConfig,
        record: Callable[[UsageEvent], None],
        *,
        durable: Callable[[], Awaitable[None]] = no_wait,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        lookups: Callable[[str], None] = lambda result: None,
    ) -> None:
        """``lookups`` is called once per request with one of :data:`LOOKUP_RESULTS` while the
        cache is enabled (on the request path: cheap, no I/O)."""
        self.engine = engine
        self._policy = policy
        self._store = store
        self._config = config
        self._record = record
        self._durable = durable
        self._clock = clock
        self._wall = wall_clock
        self._lookups = lookups
        # Whether the store failed last: an outage is logged once, not once per request
        # (llmrouter_cache_lookups_total{result="error"} counts each).
        self._store_down = False

    def _store_failed(self, what: str, exc: StateUnavailable) -> None:
        if not self._store_down:
            self._store_down = True
            log.warning("response cache: %s (%s); requests go upstream until it answers", what, exc)

    def _store_answered(self) -> None:
        if self._store_down:
            self._store_down = False
            log.warning("response cache: the store answers again")

    def describe(self) -> str:
        """Whether the cache is on and where answers live, for the start-up line."""
        if not self._config.enabled:
            return "off"
        return f"on, ttl {self._config.ttl_s:g} s, in {self._store.describe()}"

    async def _consulted(self, request: ChatRequest) -> tuple[Decision | None, str]:
        """The decision (when the cache made it) and the key, "" when the cache is not used."""
        if not self._config.asked(request.cache, request.api_key_id) or request.logprobs:
            self._bypassed()  # log probabilities are per sampling: never replayed
            return None, ""
        decision = await self._policy.decide(request)
        category = next((c for c in self._policy.categories if c.name == decision.category), None)
        if category is not None and not category.cache:
            self._bypassed()
            return decision, ""
        return decision, cache_key(request, decision.category)

    def _bypassed(self) -> None:
        if self._config.enabled:
            self._lookups(BYPASS)

    async def _lookup(self, key: str) -> tuple[CachedAnswer, ModelEntry] | None:
        try:
            data = await self._store.get(key)
        except StateUnavailable as exc:
            self._store_failed("lookup failed", exc)
            self._lookups(ERROR)
            return None
        self._store_answered()
        if data is None:
            self._lookups(MISS)
            return None
        try:
            answer = CachedAnswer.decode(data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("response cache: unreadable entry ignored (%s)", type(exc).__name__)
            self._lookups(ERROR)
            return None
        entry = self._policy.registry.get(answer.model)
        if entry is None:  # the model left the registry since: ask again
            self._lookups(MISS)
            return None
        self._lookups(HIT)
        return answer, entry

    async def _keep(self, key: str, answer: CachedAnswer) -> None:
        if not answer.cacheable:
            return
        data = answer.encode()
        if len(data) > self._config.max_entry_bytes:
            return
        try:
            await self._store.put(key, data, self._config.ttl_s)
        except StateUnavailable as exc:
            self._store_failed("answer not stored", exc)

    def _hit(
        self,
        request: ChatRequest,
        request_id: str,
        category: str,
        answer: CachedAnswer,
        entry: ModelEntry,
        started: float,
        streamed: bool,
        trace_id: str,
    ) -> None:
        """Record a hit: one succeeded row, source cache, $0, the saving beside it."""
        self._record(
            UsageEvent(
                request_id=request_id,
                attempt=1,
                time=self._wall(),
                provider=entry.provider.name,
                model=entry.name,
                category=category,
                task_type=request.task_type,
                source=CACHE_SOURCE,
                api_key_id=request.api_key_id,
                team_id=request.team_id,
                prompt_tokens=0,
                completion_tokens=0,
                cost_usd=0.0,
                duration_s=self._clock() - started,
                ttft_s=None,
                status="succeeded",
                error_type="",
                fallback=False,
                fallback_from="",
                trace_id=trace_id,
                metadata=dict(request.metadata),
                local=entry.provider.local,
                streamed=streamed,
                client_request_id=request.client_request_id,
                front_door=request.front_door,
                saved_cost_usd=answer.cost_usd,
            )
        )

    async def complete(
        self,
        request: ChatRequest,
        deadline: float,
        accepted: Callable[[], Awaitable[None]] = no_wait,
    ) -> Served:
        """As :meth:`Engine.complete`; a hit is answered from the cache (``Served.cache``)."""
        started = self._clock()
        decision, key = await self._consulted(request)
        if not key:
            return await self.engine.complete(request, deadline, accepted, decision=decision)
        assert decision is not None
        found = await self._lookup(key)
        if found is None:
            served = await self.engine.complete(request, deadline, accepted, decision=decision)
            await self._keep(
                key,
                CachedAnswer.of(
                    served.entry.name,
                    served.entry.provider.name,
                    served.completion,
                    served.cost_usd,
                ),
            )
            return replace(served, cache="miss")
        answer, entry = found
        await accepted()
        request_id, trace_id = new_request_id(), current_trace_id()
        self._hit(request, request_id, decision.category, answer, entry, started, False, trace_id)
        await self._durable()
        return Served(
            request_id=request_id,
            entry=entry,
            completion=answer.completion(),
            cost_usd=0.0,
            attempts=(),
            decision=decision,
            create_time=self._wall(),
            fallback=False,
            trace_id=trace_id,
            cache="hit",
        )

    async def stream(self, request: ChatRequest, deadline: float) -> AsyncGenerator[Event, None]:
        """As :meth:`Engine.stream`; a hit is replayed as a stream (start, deltas, summary)."""
        started = self._clock()
        decision, key = await self._consulted(request)
        if not key:
            async with aclosing(self.engine.stream(request, deadline, decision)) as events:
                async for event in events:
                    yield event
            return
        assert decision is not None
        found = await self._lookup(key)
        if found is None:
            recorder = StreamRecorder()
            summary: StreamSummary | None = None
            async with aclosing(self.engine.stream(request, deadline, decision)) as events:
                async for event in events:
                    if isinstance(event, StreamStarted):
                        event = replace(event, cache="miss")
                    elif isinstance(event, StreamDelta):
                        recorder.add(event)
                    else:
                        summary = event
                    yield event
            if summary is not None and not request.prefill:
                # Only a stream that reached its summary (a broken one raised before it).
                # A continued final message is not stored: its answer is only the rest.
                await self._keep(
                    key,
                    recorder.answer(
                        summary.entry.name,
                        summary.entry.provider.name,
                        summary.finish_reason,
                        summary.usage,
                        summary.cost_usd,
                        summary.service_tier,
                        summary.system_fingerprint,
                    ),
                )
            return
        answer, entry = found
        request_id, trace_id = new_request_id(), current_trace_id()
        yield StreamStarted(
            request_id,
            entry,
            decision.category,
            self._wall(),
            attempt_count=0,
            fallback=False,
            trace_id=trace_id,
            cache="hit",
        )
        for delta in answer.deltas():
            yield delta
        self._hit(request, request_id, decision.category, answer, entry, started, True, trace_id)
        await self._durable()
        yield StreamSummary(
            entry=entry,
            finish_reason=answer.finish_reason,
            usage=answer.usage,
            cost_usd=0.0,
            attempts=(),
            fallback=False,
            service_tier=answer.service_tier,
            system_fingerprint=answer.system_fingerprint,
        )
