"""Breakers and model statistics shared by the router replicas that use one [state] store.

Each replica keeps its own :class:`~router_svc.breaker.CircuitBreaker` per model, and routing
reads only that (no store round trip per request); this module keeps them in step:

* **Open.** A breaker that opens here writes ``breaker:<model>`` = ``{until, ejections, by}``
  (``until`` in wall-clock seconds; TTL: the ejection plus ten probe rounds) and publishes the
  same on channel ``breakers``. Every other replica opens its breaker until the same time on
  the message, or at the next resync (every ``resync_interval_s``, one GET per model) when the
  message was missed.
* **Half-open.** When the ejection ends, every replica races for the lock
  ``breaker:<model>:probe:<until ms>:<round>`` (``set_if_absent``, TTL one round): only the
  winner's breaker admits a probe, within ``permit_s`` (1 s) of winning; the others keep
  skipping the model. The probe's result is published like any transition: success closes
  every replica's breaker (and deletes the key), failure reopens them for the next, longer
  ejection. If the winner had no request to probe with, the next round (``permit_s`` +
  ``probe_timeout_s`` later, so a probe started in the last round has ended or timed out)
  elects again.
* **Reset.** An operator reset (``Admin.reset_breaker`` calls ``CircuitBreaker.reset``) is
  published as a close with ``reset``, which also forgets the ejection count everywhere.
* **Statistics.** Every ``stats_interval_s`` each replica publishes, per model, its EWMA
  latency and its recent successes and attempts on channel ``stats``; the others keep the
  latest summary per replica (stale after three intervals) and scoring merges them weighted
  by sample counts (:attr:`router_svc.model_stats.ModelStats.merged_latency_s`).

When the store does not answer, breakers work per replica as in a single process: a failed
election lets this replica probe on its own. The failure is logged once per outage and
counted in :attr:`SharedHealth.unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from llmrouter.shared_state import SharedState, StateUnavailable

from .breaker import CircuitBreaker
from .model_stats import PeerStats
from .registry import ModelEntry, Registry

__all__ = ["SharedHealth"]

log = logging.getLogger(__name__)

BREAKERS_CHANNEL = "breakers"
STATS_CHANNEL = "stats"
# Seconds the winner of a probe election may start its probe in.
PERMIT_S = 1.0
# Probe rounds an open breaker's key outlives its ejection by (a model nobody sends to).
KEY_ROUNDS = 10


class _Link:
    """One model's breaker as shared: the ejection known to all and this replica's permit."""

    def __init__(self, owner: SharedHealth, entry: ModelEntry) -> None:
        self.owner = owner
        self.name = entry.key  # a deployment's breaker is its own (model@deployment)
        self.breaker = entry.breaker
        self.until = 0.0  # wall-clock end of the shared ejection (0: none known)
        self.ejections = 0
        self.remote = False  # the ejection was decided by another replica
        self.permit_until = 0.0  # monotonic time until which this replica may start a probe
        self.alone = False  # the store failed during an election: probe as one replica
        self.timer: asyncio.TimerHandle | None = None

    # The breaker's probe gate: read on the hot path only while the breaker is half-open.
    def gate(self) -> bool:
        if self.alone or not self.until:
            return True
        return time.monotonic() < self.permit_until

    # BreakerListener ------------------------------------------------------------------------

    def opened(self, breaker: CircuitBreaker, ejection_s: float) -> None:
        self.learn(time.time() + ejection_s, breaker.ejections, remote=False)
        self.owner.spawn(self.owner.announce_open(self))

    def closed(self, breaker: CircuitBreaker, *, reset: bool) -> None:
        until = self.until
        self.forget()
        self.owner.spawn(self.owner.announce_close(self, until, reset=reset))

    # ----------------------------------------------------------------------------------------

    def learn(self, until: float, ejections: int, *, remote: bool) -> None:
        """A new ejection, ending at ``until``: drop any permit, elect a prober at its end."""
        self.until, self.ejections, self.remote = until, ejections, remote
        self.permit_until, self.alone = 0.0, False
        self.schedule(until - time.time(), 0)

    def forget(self) -> None:
        self.until, self.ejections, self.remote = 0.0, 0, False
        self.permit_until, self.alone = 0.0, False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def schedule(self, delay_s: float, round_no: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
        until = self.until
        self.timer = asyncio.get_running_loop().call_later(
            max(delay_s, 0.0),
            lambda: self.owner.spawn(self.owner.elect(self, until, round_no)),
        )


class SharedHealth:
    """Keeps every model's breaker and statistics in step with the other replicas.

    ``start`` hooks the registry's breakers and begins listening; ``stop`` unhooks them.
    """

    def __init__(
        self,
        registry: Registry,
        state: SharedState,
        *,
        resync_interval_s: float = 1.0,
        stats_interval_s: float = 1.0,
        replica: str = "",
    ) -> None:
        self.state = state
        self.replica = replica or uuid.uuid4().hex[:12]
        # Every deployment's breaker and statistics, by ModelEntry.key (a model without
        # deployments: its name, as before deployments existed).
        self._entries = {e.key: e for e in registry.deployments()}
        self._links = {name: _Link(self, entry) for name, entry in self._entries.items()}
        self._resync_s = resync_interval_s
        self._stats_s = stats_interval_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._down = False
        # Store operations that failed (the store unreachable or too slow).
        self.unavailable = 0

    def start(self) -> None:
        """Hook the breakers, subscribe, and start the resync / statistics loop."""
        for link in self._links.values():
            link.breaker.listener = link
            link.breaker.probe_gate = link.gate
        self.state.subscribe(BREAKERS_CHANNEL, self._on_breaker)
        self.state.subscribe(STATS_CHANNEL, self._on_stats)
        self._loop_task = asyncio.get_running_loop().create_task(
            self._run(), name="llmrouter-shared-health"
        )

    async def stop(self) -> None:
        """Unhook the breakers and cancel everything in flight."""
        for link in self._links.values():
            link.breaker.listener = None
            link.breaker.probe_gate = None
            link.forget()
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def collector(self) -> Collector:
        """Prometheus collector of ``llmrouter_shared_breaker_store_errors_total``."""
        return _Errors(self)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background (kept referenced until it ends)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # The store, with failures logged once per outage ----------------------------------------

    async def _call(self, op: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        try:
            result = await op()
        except StateUnavailable as exc:
            self.unavailable += 1
            if not self._down:
                self._down = True
                log.warning(
                    "shared breakers: state store unavailable (%s); breakers work per replica "
                    "until it answers",
                    exc,
                )
            return False, None
        if self._down:
            self._down = False
            log.info("shared breakers: state store answers again")
        return True, result

    # Announcing this replica's transitions ---------------------------------------------------

    def _record(self, link: _Link, event: str, until: float, **extra: Any) -> bytes:
        body = {"model": link.name, "event": event, "until": until, "by": self.replica}
        return json.dumps({**body, **extra}).encode()

    async def announce_open(self, link: _Link) -> None:
        """Store the ejection under the model's key and publish it."""
        policy = link.breaker.policy
        message = self._record(link, "open", link.until, ejections=link.ejections)
        ttl = max(link.until - time.time(), 0.0) + KEY_ROUNDS * _round_s(policy.probe_timeout_s)
        await self._call(lambda: self.state.set(f"breaker:{link.name}", message, ttl))
        await self._call(lambda: self.state.publish(BREAKERS_CHANNEL, message))

    async def announce_close(self, link: _Link, until: float, *, reset: bool) -> None:
        """Delete the model's key and publish the close (``reset``: an operator's)."""
        message = self._record(link, "close", until, reset=reset)
        await self._call(lambda: self.state.delete(f"breaker:{link.name}"))
        await self._call(lambda: self.state.publish(BREAKERS_CHANNEL, message))

    # Probe elections -------------------------------------------------------------------------

    async def elect(self, link: _Link, until: float, round_no: int) -> None:
        """Race the other replicas for this round's probe lock; the next round follows."""
        if link.until != until:
            return  # the ejection was closed or replaced meanwhile
        round_s = _round_s(link.breaker.policy.probe_timeout_s)
        key = f"breaker:{link.name}:probe:{round(until * 1000)}:{round_no}"
        ok, won = await self._call(
            lambda: self.state.set_if_absent(key, self.replica.encode(), round_s)
        )
        if link.until != until:
            return
        if not ok:
            link.alone = True  # no coordination possible: probe as a single process would
            return
        if won:
            link.permit_until = time.monotonic() + min(PERMIT_S, round_s)
            log.info("shared breakers: %s probes %s (round %d)", self.replica, link.name, round_no)
        link.schedule(round_s, round_no + 1)

    # Hearing other replicas -------------------------------------------------------------------

    def _on_breaker(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
            link = self._links.get(str(message["model"]))
            by, event, until = str(message["by"]), str(message["event"]), float(message["until"])
        except (ValueError, KeyError, TypeError):
            log.warning("shared breakers: ignoring a malformed message")
            return
        if link is None or by == self.replica:
            return
        if event == "open":
            self._apply_open(link, until, int(message.get("ejections", 1)))
        elif event == "close":
            reset = bool(message.get("reset", False))
            # A close of an older ejection than the one known here is stale.
            if reset or not link.until or until >= link.until - 0.001:
                link.forget()
                link.breaker.apply_close(reset=reset)

    def _apply_open(self, link: _Link, until: float, ejections: int) -> None:
        if until <= link.until + 0.001:
            return  # already known (or older)
        link.learn(until, ejections, remote=True)
        link.breaker.apply_open(max(until - time.time(), 0.0), ejections)

    def _on_stats(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
            by = str(message["by"])
            models = dict(message["models"])
        except (ValueError, KeyError, TypeError):
            log.warning("shared breakers: ignoring a malformed statistics message")
            return
        if by == self.replica:
            return
        expires = time.monotonic() + 3 * self._stats_s
        for name, figures in models.items():
            entry = self._entries.get(name)
            if entry is None:
                continue
            try:
                latency, ok, total = figures
                peer = PeerStats(
                    None if latency is None else float(latency), int(ok), int(total), expires
                )
            except (ValueError, TypeError):
                continue
            entry.stats.set_peer(by, peer)

    # The periodic loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        next_resync = next_stats = 0.0
        while True:
            now = time.monotonic()
            if now >= next_resync:
                await self.resync()
                next_resync = now + self._resync_s
            if now >= next_stats:
                await self.publish_stats()
                next_stats = now + self._stats_s
            await asyncio.sleep(max(min(next_resync, next_stats) - time.monotonic(), 0.01))

    async def resync(self) -> None:
        """Read every model's key: apply ejections whose message was missed, close breakers
        whose ejection ended elsewhere unheard, store again our own lost keys."""
        names = list(self._links)
        ok, values = await self._call(
            lambda: asyncio.gather(*(self.state.get(f"breaker:{n}") for n in names))
        )
        if not ok:
            return
        for name, value in zip(names, values, strict=True):
            link = self._links[name]
            if value is None:
                if link.until and link.remote:
                    link.forget()
                    link.breaker.apply_close()
                elif link.until and not link.remote:
                    await self.announce_open(link)  # the store lost it (restarted, flushed)
                continue
            try:
                message = json.loads(value)
                until, by = float(message["until"]), str(message["by"])
                ejections = int(message.get("ejections", 1))
            except (ValueError, KeyError, TypeError):
                continue
            if by != self.replica:
                self._apply_open(link, until, ejections)

    async def publish_stats(self) -> None:
        """Publish this replica's summary of every model it has seen an attempt of."""
        models = {}
        for name, entry in self._entries.items():
            latency, ok, total = entry.stats.summary()
            if total:
                models[name] = [latency, ok, total]
        if models:
            message = json.dumps({"by": self.replica, "models": models}).encode()
            await self._call(lambda: self.state.publish(STATS_CHANNEL, message))


class _Errors(Collector):
    def __init__(self, health: SharedHealth) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "llmrouter_shared_breaker_store_errors",
            "Shared breaker and statistics operations the [state] store did not answer "
            "(breakers then work per replica)",
        )
        family.add_metric([], self._health.unavailable)
        yield family


def _round_s(probe_timeout_s: float) -> float:
    """Length of one probe election round: the permit, then time for its probe to end."""
    return min(PERMIT_S, probe_timeout_s) + probe_timeout_s
