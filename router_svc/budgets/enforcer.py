"""Budget enforcement: reserve an attempt's worst-case cost before it is sent, settle its real
cost after (README, "Budgets").

:meth:`Budgets.reserve` is called for every attempt that is about to reach a provider (the
failover schedule, so every route through the engine: unary, streams, any later front door).
It reserves ``estimated prompt tokens x input price + output limit x output price`` of the
picked model against every rule of the request's key and team, all or none, atomically in the
shared store; a request that does not fit one rule is refused for that model (a cheaper model
later in the chain may fit). :meth:`Hold.settle` then adds the attempt's real cost (the usage
record's ``cost_usd``) and releases the reservation, in the background. With Redis, reserves
and settles made while a script call is in flight go out together in the next one (a group
commit, as the rate limiter's), and a settle is only queued: no task, no wait.

Store unreachable: requests are still served; this replica reserves and settles in its own
counters, each rule's room being split between ``replicas`` from the last spent it read (as
the rate limiter does); outages are logged once and their decisions counted
(:attr:`Budgets.fallbacks`). Costs settled meanwhile reach the shared counters through
reconciliation from the ledger (:mod:`.reconcile`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from llmrouter.rate_limits import RETRY_STORE_S
from llmrouter.shared_state import StateConfig, redis_pool

from ..chat import ChatRequest, TokenUsage
from .counters import KEEP_BUCKETS, Counters, Line, MemoryCounters, RedisCounters, nano, usd
from .leases import FLUSH_S, Leases
from .rules import BudgetRule, RuleSource

if TYPE_CHECKING:  # the registry imports the config, which imports the rules
    from ..registry import ModelEntry
    from ..routing.policy import Decision

__all__ = ["BudgetObserver", "BudgetStanding", "Budgets", "Hold", "NoObserver", "Refusal"]

log = logging.getLogger(__name__)


class BudgetObserver(Protocol):
    """Told where a rule stands after each settle (alerts plug in here). Must not block: it
    runs on the event loop after the attempt's answer went out."""

    def usage(self, rule: BudgetRule, period_start: float, spent_usd: float) -> None:
        """``rule`` has ``spent_usd`` settled in the period starting at epoch ``period_start``."""
        ...


class NoObserver:
    """The default observer: does nothing."""

    def usage(self, rule: BudgetRule, period_start: float, spent_usd: float) -> None:
        """Nothing."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A rule that leaves no room for an attempt: what it has and what the attempt needed."""

    rule: BudgetRule
    spent_usd: float
    reserved_usd: float
    needed_usd: float
    # Seconds until the period ends (None: rolling window).
    retry_after_s: float | None

    def describe(self) -> str:
        """For errors and Route: ``budget 'team-a' ($10 per month): $0.0100 left ...``."""
        left = max(self.rule.hard_usd - self.spent_usd - self.reserved_usd, 0.0)
        return (
            f"budget '{self.rule.id}' (${self.rule.hard_usd:g} per {self.rule.period}): "
            f"${left:.4f} left (${self.spent_usd:.4f} spent, ${self.reserved_usd:.4f} reserved); "
            f"the request may cost up to ${self.needed_usd:.4f}"
        )


@dataclass(frozen=True, slots=True)
class BudgetStanding:
    """Where one rule stands now (ListBudgets)."""

    rule: BudgetRule
    period_start: float
    period_end: float
    spent_usd: float
    reserved_usd: float
    # Read from this replica's own counters (the store did not answer).
    local: bool

    @property
    def remaining_usd(self) -> float:
        """Room left under the hard limit, at least 0."""
        return max(self.rule.hard_usd - self.spent_usd - self.reserved_usd, 0.0)


class Hold:
    """What one attempt reserved; settle it exactly once (later calls do nothing)."""

    __slots__ = (
        "_budgets",
        "_counters",
        "_id",
        "_leased",
        "_lines",
        "_rules",
        "_settled",
        "_unsure",
    )

    def __init__(
        self,
        budgets: Budgets,
        counters: Counters,
        res_id: str,
        rules: Sequence[BudgetRule],
        lines: Sequence[Line],
        unsure: bool = False,
        leased: bool = False,
    ) -> None:
        """``unsure``: the shared store timed out on this reservation (it may have made it
        all the same), so settling also releases it there. ``leased``: reserved from this
        replica's leases (.leases), settled there."""
        self._unsure = unsure
        self._leased = leased
        self._budgets = budgets
        self._counters = counters
        self._id = res_id
        self._rules = rules
        self._lines = lines
        self._settled = False

    def settle(self, cost_usd: float) -> None:
        """Add ``cost_usd`` (the attempt's real cost, 0 when it used nothing) and release the
        reservation, in the background."""
        if self._settled:
            return
        self._settled = True
        if self._leased:
            self._budgets.settle_leased(self, cost_usd)
        elif isinstance(self._counters, MemoryCounters) and not self._unsure:
            self._budgets.settle_now(self, cost_usd)  # nothing to wait for: no task
        elif isinstance(self._counters, RedisCounters) and not self._unsure:
            self._budgets.settle_later(self, cost_usd)  # queued for the next script call
        else:
            self._budgets.background(self._budgets.settle(self, cost_usd))

    def give_back(self) -> None:
        """The attempt was not made after all: release the reservation."""
        self.settle(0.0)


# Lines kept for reuse before the cache starts over (rules x seconds).
_LINE_CACHE = 4096


def _line(rule: BudgetRule, now: float) -> Line:
    """``rule``'s line at epoch ``now``, reserving nothing."""
    period = rule.window
    start, end = period.bounds(now)
    bucket = period.bucket(now)
    keep_s = (period.seconds if period.rolling else end - now) + 86400
    return Line(
        prefix=f"budget:{rule.id}:",
        tag=period.tag(now),
        lo=period.bucket(start) if period.rolling else 0,
        bucket=bucket,
        fold_below=0 if period.rolling else bucket - KEEP_BUCKETS,
        spent_ttl_ms=math.ceil(keep_s * 1000),
        hard=nano(rule.hard_usd),
    )


class Budgets:
    """The budget rules of a router over its counters (see the module docstring)."""

    def __init__(
        self,
        rules: RuleSource,
        state: StateConfig,
        *,
        replicas: int = 1,
        default_max_output_tokens: int = 4096,
        reservation_ttl_s: float = 900.0,
        observer: BudgetObserver | None = None,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        lease_percent: float = 1.0,
    ) -> None:
        """``replicas``: router replicas sharing the budgets (each gets its share of a rule's
        room while the store does not answer). ``default_max_output_tokens``: what a request
        without max_tokens may produce. ``reservation_ttl_s``: how long a reservation counts
        when its attempt never settles (a crashed replica). ``lease_percent``: with Redis, the slice
        of a rule's hard limit a replica leases at a time (.leases; 0: none, every attempt
        reserved and settled in the store). Raises ConfigError for a Redis
        password variable that is not set."""
        self.rules = rules
        self.backend = state.backend
        self.observer: BudgetObserver = observer or NoObserver()
        self._replicas = max(replicas, 1)
        self._default_output = default_max_output_tokens
        self._ttl_s = reservation_ttl_s
        self._wall = wall_clock
        # Wall-clock seconds (periods, reservation deadlines), for the reconciliation job too.
        self.wall_clock = wall_clock
        self._clock = clock
        self._redis: Any = None
        self._shared: Counters
        ttl_ms = math.ceil(reservation_ttl_s * 2000)
        if state.backend == "redis":
            import redis.asyncio as redis_asyncio

            self._redis = redis_asyncio.Redis(connection_pool=redis_pool(state))
            self._shared = RedisCounters(
                self._redis, state.key_prefix, state.operation_timeout_ms / 1000, ttl_ms
            )
        else:
            self._shared = MemoryCounters()
        self._local = MemoryCounters()
        self.leases: Leases | None = None
        if state.backend == "redis" and lease_percent > 0:
            self.leases = Leases(lease_percent, reservation_ttl_s, clock)
        self._lease_rules: dict[str, BudgetRule] = {}
        self._line_cache: dict[tuple[BudgetRule, int], Line] = {}
        self._flush_at: asyncio.TimerHandle | None = None
        # Reservation ids: unique across replicas, restarts and instances in one process.
        self._ids = itertools.count()
        self._tag = f"{os.getpid():x}.{int(wall_clock() * 1000):x}.{uuid.uuid4().hex[:8]}"
        self._lease_id = f"lease:{self._tag}"
        self._down_until = -math.inf
        self._degraded = False
        self._last_spent: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Decisions taken on this replica's own counters because the store did not answer.
        self.fallbacks = 0
        # Reservations refused (an attempt's model passed over for a budget).
        self.refusals = 0

    @property
    def enabled(self) -> bool:
        """Whether any rule is configured."""
        return bool(self.rules.all_rules())

    def describe(self) -> str:
        """Where the counters live, for start-up lines."""
        if self.backend == "redis":
            return "shared (redis; per-replica shares while it is unreachable)"
        return "this process only (state.backend = embedded)"

    def worst_case_usd(self, entry: ModelEntry, request: ChatRequest, prompt_tokens: int) -> float:
        """The most one attempt of ``request`` on ``entry`` may cost: ``prompt_tokens`` at the
        input price plus the output limit (max_completion_tokens, max_tokens, else
        ``default_max_output_tokens``) at the output price."""
        output = request.output_limit or self._default_output
        return entry.cost(TokenUsage(prompt_tokens=prompt_tokens, completion_tokens=output))

    def _lines(self, rules: Sequence[BudgetRule], now: float, amount: int) -> list[Line]:
        # Every field but the amount is the same for a rule all through a whole second (bucket
        # and period bounds are whole seconds; the spent TTL keeps a day's slack): computed
        # once per rule and second, not per attempt.
        second = int(now)
        cache = self._line_cache
        lines = []
        for rule in rules:
            line = cache.get((rule, second))
            if line is None:
                if len(cache) >= _LINE_CACHE:
                    cache.clear()
                line = cache[(rule, second)] = _line(rule, now)
            if amount:
                line = Line(
                    line.prefix,
                    line.tag,
                    line.lo,
                    line.bucket,
                    line.fold_below,
                    line.spent_ttl_ms,
                    line.hard,
                    amount,
                )
            lines.append(line)
        return lines

    # The store, or this replica's own counters when it does not answer (as the rate limiter).

    def _counters(self) -> Counters:
        return self._shared if self._clock() >= self._down_until else self._local

    def _failed(self, exc: BaseException) -> None:
        self._down_until = self._clock() + RETRY_STORE_S
        if not self._degraded:
            self._degraded = True
            log.warning(
                "budgets: the shared store did not answer (%s); each replica counts its share "
                "of every budget until it does",
                type(exc).__name__,
            )

    def _answered(self) -> None:
        if self._degraded:
            self._degraded = False
            log.warning("budgets: the shared store answers again; budgets are shared again")

    def _local_lines(self, lines: Sequence[Line]) -> list[Line]:
        """Each line with the hard limit of this replica's share of the room it last saw."""
        out = []
        for line in lines:
            seen = self._last_spent.get(line.prefix, 0)
            share = max(line.hard - seen, 0) // self._replicas
            out.append(replace(line, hard=share))
        return out

    async def reserve(
        self, entry: ModelEntry, request: ChatRequest, prompt_tokens: int
    ) -> Hold | Refusal | None:
        """Reserve one attempt of ``request`` on ``entry``: the hold, the first rule it does not
        fit, or None when no rule applies. Never raises for the store."""
        rules = self.rules.rules_for(request.api_key_id, request.team_id)
        if not rules:
            return None
        now = self._wall()
        needed = self.worst_case_usd(entry, request, prompt_tokens)
        lines = self._lines(rules, now, nano(needed))
        res_id = f"{self._tag}.{next(self._ids)}"
        now_ms = int(now * 1000)
        deadline_ms = now_ms + int(self._ttl_s * 1000)
        counters, unsure = self._counters(), False
        leases = self.leases
        if counters is self._shared and leases is not None:
            if leases.take(lines):  # counted in the store when leased: no round trip
                return Hold(self, counters, res_id, rules, lines, leased=True)
            extras = leases.wanted(lines)
        if counters is self._shared:
            try:
                if leases is not None and any(extras):
                    assert isinstance(counters, RedisCounters)
                    refused, pairs, got = await counters.reserve_and_grant(
                        lines, res_id, now_ms, deadline_ms, extras, self._lease_id
                    )
                    leases.granted(lines, extras, got)
                    for rule, line, amount in zip(rules, lines, got, strict=True):
                        if amount:
                            self._lease_rules[line.prefix] = rule
                else:
                    refused, pairs = await counters.reserve(
                        lines, res_id, now_ms, deadline_ms, False
                    )
            except Exception as exc:  # any store failure: count locally, never fail
                if leases is not None:
                    leases.granted(lines, extras, [0] * len(lines))
                self._failed(exc)
                counters, unsure = self._local, True
            else:
                self._answered()
                for line, (spent, _) in zip(lines, pairs, strict=True):
                    self._last_spent[line.prefix] = spent
        if counters is self._local:
            self.fallbacks += 1
            lines = self._local_lines(lines)
            refused, pairs = await counters.reserve(lines, res_id, now_ms, deadline_ms, False)
        if refused >= 0:
            self.refusals += 1
            spent, reserved = pairs[refused]
            rule = rules[refused]
            return Refusal(rule, usd(spent), usd(reserved), needed, rule.window.retry_after(now))
        return Hold(self, counters, res_id, rules, lines, unsure)

    async def annotate(self, decision: Decision, request: ChatRequest) -> Decision:
        """``decision`` with the candidates whose worst-case cost no budget of the request has
        room for now moved to its skipped models (reason BUDGET), reserving nothing: what
        ``Route`` shows. A candidate kept after a skipped one is a cheaper model that fits."""
        from ..routing.policy import Skip  # policy imports the config, which imports the rules

        rules = self.rules.rules_for(request.api_key_id, request.team_id)
        if not rules or not decision.candidates:
            return decision
        now = self._wall()
        try:
            _, pairs = await self._counters().reserve(
                self._lines(rules, now, 0), "", int(now * 1000), 0, True
            )
        except Exception as exc:
            self._failed(exc)
            return decision
        kept, skipped, fits = [], list(decision.skipped), False
        for candidate in decision.candidates:
            needed = self.worst_case_usd(candidate.entry, request, decision.estimated_prompt_tokens)
            over = next(
                (
                    Refusal(rule, usd(s), usd(r), needed, None)
                    for rule, (s, r) in zip(rules, pairs, strict=True)
                    if s + r + nano(needed) > nano(rule.hard_usd)
                ),
                None,
            )
            if over is None:
                if skipped and not fits:
                    candidate = replace(
                        candidate, reason=f"{candidate.reason}; fits the budget (cheaper)"
                    )
                fits = True
                kept.append(candidate)
            else:
                skipped.append(Skip(candidate.entry.name, "BUDGET", over.describe()))
        if len(kept) == len(decision.candidates):
            return decision
        return replace(decision, candidates=tuple(kept), skipped=tuple(skipped))

    async def settle(self, hold: Hold, cost_usd: float) -> None:
        """Settle ``hold`` (see :meth:`Hold.settle`); then tell the observer."""
        now = self._wall()
        # The period of now (an attempt that began yesterday bills today's period).
        lines = self._lines(hold._rules, now, 0)
        cost = nano(cost_usd) if cost_usd > 0 else 0
        if hold._unsure:
            # A reservation the store may have made although it timed out: release it there
            # rather than let it hold room until its deadline (best effort, costing nothing).
            with contextlib.suppress(Exception):
                await self._shared.settle(lines, hold._id, 0)
        try:
            spent = await hold._counters.settle(lines, hold._id, cost)
        except Exception as exc:
            # Not retried: a settle that timed out may have been applied. The ledger has the
            # cost; reconciliation brings it to the counters.
            self._failed(exc)
            return
        self._observe(hold._rules, spent, now)

    def settle_now(self, hold: Hold, cost_usd: float) -> None:
        """:meth:`settle` for a hold in this process's counters, at once."""
        assert isinstance(hold._counters, MemoryCounters)
        now = self._wall()
        cost = nano(cost_usd) if cost_usd > 0 else 0
        spent = hold._counters.settle_now(self._lines(hold._rules, now, 0), hold._id, cost)
        self._observe(hold._rules, spent, now)

    def settle_later(self, hold: Hold, cost_usd: float) -> None:
        """:meth:`settle` for a hold in the store, queued for its next script call (one call
        settles every attempt queued meanwhile) without a task; the observer is told when the
        store answers."""
        assert isinstance(hold._counters, RedisCounters)
        now = self._wall()
        cost = nano(cost_usd) if cost_usd > 0 else 0
        rules = hold._rules
        future = hold._counters.settle_later(self._lines(rules, now, 0), hold._id, cost)

        def done(future: asyncio.Future[list[int]]) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                # Not retried (see settle): reconciliation brings the cost to the counters.
                self._failed(exc)
                return
            self._observe(rules, future.result(), now)

        future.add_done_callback(done)

    def settle_leased(self, hold: Hold, cost_usd: float) -> None:
        """:meth:`settle` for a hold reserved from this replica's leases: its worst case back
        to the lease, its cost flushed to the store within :data:`.leases.FLUSH_S` (one
        script call for every attempt settled meanwhile)."""
        assert self.leases is not None
        now = self._wall()
        cost = nano(cost_usd) if cost_usd > 0 else 0
        rules = hold._rules
        lines = self._lines(rules, now, 0)
        for rule, line in zip(rules, lines, strict=True):
            self._lease_rules[line.prefix] = rule  # the latest (rules change at runtime)
        self.leases.settle(lines, [line.amount for line in hold._lines], cost)
        if self._flush_at is None:
            loop = asyncio.get_running_loop()
            self._flush_at = loop.call_later(FLUSH_S, self._flush)

    def _flush(self, release: bool = False) -> None:
        self._flush_at = None
        if self.leases is None:
            return
        items = self.leases.release() if release else self.leases.flush()
        if not items:
            return
        assert isinstance(self._shared, RedisCounters)
        now = self._wall()
        deadline_ms = int((now + self._ttl_s) * 1000)
        future = self._shared.flush_later(items, self._lease_id, deadline_ms)
        rules = [self._lease_rules[line.prefix] for line, _, _ in items]

        def done(future: asyncio.Future[list[int]]) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                # What the store holds is unknown: the leases there expire at their
                # deadline, the costs reach the counters through reconciliation.
                assert self.leases is not None
                self.leases.drop()
                self._failed(exc)
                return
            self._observe(rules, future.result(), now)

        future.add_done_callback(done)

    def _observe(self, rules: Sequence[BudgetRule], spent: Sequence[int], now: float) -> None:
        for rule, value in zip(rules, spent, strict=True):
            try:
                self.observer.usage(rule, rule.window.bounds(now)[0], usd(value))
            except Exception:  # an observer's bug must not stop settling
                log.exception("budgets: observer failed")

    async def standings(self) -> list[BudgetStanding]:
        """Every rule's period and counters now (reading, reserving nothing)."""
        now = self._wall()
        rules = list(self.rules.all_rules())
        if not rules:
            return []
        lines = self._lines(rules, now, 0)
        counters, local = self._counters(), False
        try:
            _, pairs = await counters.reserve(lines, "", int(now * 1000), 0, True)
        except Exception as exc:
            self._failed(exc)
            local = True
            _, pairs = await self._local.reserve(lines, "", int(now * 1000), 0, True)
        local = local or counters is self._local
        out = []
        for rule, (spent, reserved) in zip(rules, pairs, strict=True):
            start, end = rule.window.bounds(now)
            if rule.window.rolling:
                end = now + rule.window.seconds - (now - start)  # when the oldest bucket leaves
            out.append(BudgetStanding(rule, start, end, usd(spent), usd(reserved), local))
        return out

    async def reconcile_rule(self, rule: BudgetRule, ledger_usd: float, cutoff: float) -> float:
        """Set ``rule``'s spent before epoch ``cutoff`` (a bucket boundary) to ``ledger_usd``,
        the ledger's total from the period's start to ``cutoff``; spent after, in USD.
        Raises what the store raises."""
        now = self._wall()
        (line,) = self._lines([rule], now, 0)
        period = rule.window
        spent = await self._shared.reconcile(
            line, nano(ledger_usd), period.bucket(cutoff), period.rolling
        )
        return usd(spent)

    def collector(self, name: str, documentation: str) -> Collector:
        """A Prometheus collector of :attr:`fallbacks` as counter ``name`` (``_total``)."""
        return _FallbackCollector(self, name, documentation)

    def background(self, work: Any) -> None:
        """Run ``work`` (a coroutine) without waiting for it."""
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the settles in flight (tests, shutdown); costs settled against leases are
        flushed now."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush()
        if isinstance(self._shared, RedisCounters):
            await self._shared.drain()
            await asyncio.sleep(0)  # the futures' callbacks (the observer) run

    async def close(self) -> None:
        """Finish settling, give the leases back and close the store's connections."""
        await self.drain()
        if self.leases is not None:
            self._flush(release=True)
            await self.drain()
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)


class _FallbackCollector(Collector):
    def __init__(self, budgets: Budgets, name: str, documentation: str) -> None:
        self._budgets = budgets
        self._name = name
        self._documentation = documentation

    def collect(self) -> Iterable[Metric]:
        counter = CounterMetricFamily(self._name, self._documentation)
        counter.add_metric([], self._budgets.fallbacks)
        yield counter
