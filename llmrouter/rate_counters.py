"""Where :mod:`llmrouter.rate_limits` counts: limits' memory storage, or Redis in batches.

Both keep limits' sliding-window counter (https://limits.readthedocs.io/en/stable/strategies.html
#sliding-window-counter): a window's count and the previous window's, the previous one weighted
by the part of it still inside the sliding window; a cost fits when
``floor(previous * previous_ttl / window) + current + cost <= limit``.

* :class:`MemoryCounters`: limits' ``MemoryStorage`` and ``SlidingWindowCounterRateLimiter``,
  one charge at a time (in process, microseconds).
* :class:`RedisCounters`: limits' Redis key layout (``{prefix}:{key}`` for the current window,
  ``{prefix}:{key}/-1`` for the previous one, so limits' own readers see the same counts), but
  each request's charges are checked and counted together by one Lua script, which also returns
  every window (for x-ratelimit headers): one round trip per request instead of limits' one
  per charge plus one per header read. Requests arriving while a script call is in flight go
  out together in the next one (a group commit), so under load a round trip serves many.
  ``bench/rate_limits.py`` measures both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, SlidingWindowCounterSupport, Storage

from .group_commit import GroupCommit
from .rate_values import Charge, Quota, Standing, standing

__all__ = ["Counted", "Counters", "MemoryCounters", "RedisCounters"]

# Requests' charges, checked and counted together, in order. ARGV[1]: the number of groups;
# then per group: its mode (0: acquire all or none; 1: add each cost, clamped at 0, to a live
# current window), its charge count, and per charge its limit, window (s), cost and extra (a
# lease: units counted beyond the cost when all of them still fit, else none). KEYS: the
# previous and the current window of each charge, in the same order. The window shift is
# limits' (acquire_sliding_window.lua). Returns per acquire group: the 1-based index of the
# charge that did not fit (0: all counted), then per charge the previous count and its TTL
# (ms), the current count and its TTL (ms), read after counting, and the extra counted.
_BATCH_LUA = """
local out = {}
local a, k = 2, 1
for _ = 1, tonumber(ARGV[1]) do
  local mode, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  if mode == 1 then
    for _ = 1, n do
      local current, delta = KEYS[k + 1], tonumber(ARGV[a + 2])
      if redis.call('pttl', current) > 0 then
        if redis.call('incrby', current, delta) < 0 then
          redis.call('set', current, 0, 'KEEPTTL')
        end
      end
      a, k = a + 4, k + 2
    end
  else
    local first_a, first_k, refused = a, k, 0
    for c = 1, n do
      local limit = tonumber(ARGV[a])
      local expiry, cost = tonumber(ARGV[a + 1]) * 1000, tonumber(ARGV[a + 2])
      local previous, current = KEYS[k], KEYS[k + 1]
      local ttl = redis.call('pttl', current)
      if ttl > 0 and ttl < expiry then
        redis.call('rename', current, previous)
        redis.call('set', current, 0, 'PX', ttl + expiry)
      end
      if refused == 0 then
        local pc = tonumber(redis.call('get', previous)) or 0
        local pt = math.max(redis.call('pttl', previous), 0)
        local cc = tonumber(redis.call('get', current)) or 0
        if cost > limit or math.floor(pc * pt / expiry) + cc + cost > limit then
          refused = c
        end
      end
      a, k = a + 4, k + 2
    end
    out[#out + 1] = refused
    a, k = first_a, first_k
    for _ = 1, n do
      local limit = tonumber(ARGV[a])
      local expiry, cost = tonumber(ARGV[a + 1]) * 1000, tonumber(ARGV[a + 2])
      local extra = tonumber(ARGV[a + 3])
      local previous, current = KEYS[k], KEYS[k + 1]
      local pc = tonumber(redis.call('get', previous)) or 0
      local pt = math.max(redis.call('pttl', previous), 0)
      local granted = 0
      if refused == 0 then
        local cc = tonumber(redis.call('get', current)) or 0
        if extra > 0 and math.floor(pc * pt / expiry) + cc + cost + extra <= limit then
          granted = extra
        end
        if redis.call('exists', current) == 1 then
          redis.call('incrby', current, cost + granted)
        else
          redis.call('set', current, cost + granted, 'PX', expiry * 2)
        end
      end
      out[#out + 1] = pc
      out[#out + 1] = pt
      out[#out + 1] = tonumber(redis.call('get', current)) or 0
      out[#out + 1] = math.max(redis.call('pttl', current), 0)
      out[#out + 1] = granted
      a, k = a + 4, k + 2
    end
  end
end
return out
"""
_ACQUIRE, _ADJUST = 0, 1
# Keys kept built per counters object before the cache starts over.
_MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Counted:
    """What :meth:`Counters.acquire` decided for a request's charges."""

    # The charge that did not fit (nothing was counted); None when all were counted.
    refused: Standing | None
    # Every charge's standing after the decision, in order.
    standings: tuple[Standing, ...]
    # Per charge, the extra units counted beyond its cost (a lease; 0: none asked or granted).
    granted: tuple[int, ...]
    # Per charge, seconds until its current window becomes the previous one (where a lease
    # counted in it must be spent by).
    window_ends_s: tuple[float, ...]


class Counters:
    """Sliding-window counters of charges, with each quota's limit divided by ``share``."""

    def __init__(self, storage: Storage, share: int = 1) -> None:
        self.storage = storage
        self._share = share
        self._items: dict[Quota, RateLimitItem] = {}
        # limits' key per (subject, quota): built once (key_for is most of a memory hit).
        self._keys: dict[tuple[tuple[str, ...], Quota], str] = {}

    def limit(self, quota: Quota) -> int:
        """The quota's limit as these counters enforce it (a replica's share locally)."""
        return max(1, quota.limit // self._share)

    def item(self, quota: Quota) -> RateLimitItem:
        """limits' item for ``quota`` (built once)."""
        item = self._items.get(quota)
        if item is None:
            item = RateLimitItemPerSecond(self.limit(quota), quota.window_s)
            self._items[quota] = item
        return item

    def key(self, charge: Charge) -> str:
        """limits' key of the counter ``charge`` goes to."""
        found = (charge.subject, charge.quota)
        key = self._keys.get(found)
        if key is None:
            if len(self._keys) >= _MAX_KEYS:  # subjects come and go (keys, models): bounded
                self._keys.clear()
            key = self.item(charge.quota).key_for(*charge.subject, charge.quota.kind)
            self._keys[found] = key
        return key

    async def standing(self, charge: Charge) -> Standing:
        """The window of ``charge`` now, as limits reads it (one round trip on Redis)."""
        return standing(charge, self.limit(charge.quota), *await self._windows(charge))

    async def _windows(self, charge: Charge) -> tuple[int, float, int, float]:
        storage = cast(SlidingWindowCounterSupport, self.storage)
        return await storage.get_sliding_window(self.key(charge), charge.quota.window_s)

    async def acquire(self, charges: Sequence[Charge], extras: Sequence[int] = ()) -> Counted:
        """Count all of ``charges`` or none. ``extras`` (per charge, default none): units to
        count beyond a charge's cost when they fit too (a lease), else none of them."""
        raise NotImplementedError

    async def adjust(self, charge: Charge, delta: int) -> None:
        """Add ``delta`` (negative: give back, never below 0) to the current window of
        ``charge``, keeping its expiry."""
        raise NotImplementedError


class MemoryCounters(Counters):
    """limits' memory storage and sliding-window-counter strategy (this process only)."""

    def __init__(self, share: int = 1) -> None:
        super().__init__(MemoryStorage(), share)
        self._memory = cast(MemoryStorage, self.storage)

    async def acquire(self, charges: Sequence[Charge], extras: Sequence[int] = ()) -> Counted:
        refused = None
        for i, charge in enumerate(charges):
            # What limits' SlidingWindowCounterRateLimiter.hit does, with the key built once.
            if not await self._memory.acquire_sliding_window_entry(
                self.key(charge), self.limit(charge.quota), charge.quota.window_s, charge.cost
            ):
                for counted in charges[:i]:
                    await self.adjust(counted, -counted.cost)
                refused = i
                break
        granted = [0] * len(charges)
        if refused is None:
            for i, extra in enumerate(extras):
                charge = charges[i]
                if extra > 0 and await self._memory.acquire_sliding_window_entry(
                    self.key(charge), self.limit(charge.quota), charge.quota.window_s, extra
                ):
                    granted[i] = extra
        windows = [await self._windows(charge) for charge in charges]
        standings = tuple(
            standing(charge, self.limit(charge.quota), *window)
            for charge, window in zip(charges, windows, strict=True)
        )
        return Counted(
            None if refused is None else standings[refused],
            standings,
            tuple(granted),
            tuple(w[3] - c.quota.window_s for c, w in zip(charges, windows, strict=True)),
        )

    async def adjust(self, charge: Charge, delta: int) -> None:
        storage = cast(MemoryStorage, self.storage)
        window = charge.quota.window_s
        # MemoryStorage's windows are fixed slots of the epoch, named by sliding_window_keys.
        _, current = storage.sliding_window_keys(self.key(charge), window, time.time())
        if delta > 0:
            await storage.incr(current, 2 * window, delta)
        else:
            await storage.decr(current, -delta)


# (mode, charges, extras) and its reply: the refused index and per charge (previous count,
# its TTL s, current count, its TTL s, extra counted); None for an adjust group.
_Group = tuple[int, tuple[Charge, ...], tuple[int, ...]]
_Reply = tuple[int, list[tuple[int, float, int, float, int]]] | None


class RedisCounters(Counters):
    """limits' Redis layout, counted in batches by :data:`_BATCH_LUA` (see the module
    docstring). ``client``: a ``redis.asyncio.Redis``; ``storage``: limits' RedisStorage over
    the same pool, with key prefix ``prefix`` (for reads)."""

    def __init__(self, storage: Storage, client: Any, prefix: str, timeout_s: float) -> None:
        super().__init__(storage)
        self._script = client.register_script(_BATCH_LUA)
        self._prefix = prefix
        self._timeout = timeout_s
        self._batches: GroupCommit[_Group, _Reply] = GroupCommit(self._send)
        # Script calls made (each one round trip), for benchmarks and tests.
        self.round_trips = 0

    def _window_keys(self, charge: Charge) -> tuple[str, str]:
        # limits' RedisStorage: "{key}" for the current window, "{key}/-1" for the previous.
        current = f"{self._prefix}:{{{self.key(charge)}}}"
        return current + "/-1", current

    async def acquire(self, charges: Sequence[Charge], extras: Sequence[int] = ()) -> Counted:
        reply = await self._batches.submit((_ACQUIRE, tuple(charges), tuple(extras)))
        assert reply is not None
        refused, windows = reply
        standings = tuple(
            standing(charge, self.limit(charge.quota), *window[:4])
            for charge, window in zip(charges, windows, strict=True)
        )
        return Counted(
            standings[refused - 1] if refused else None,
            standings,
            tuple(w[4] for w in windows),
            tuple(w[3] - c.quota.window_s for c, w in zip(charges, windows, strict=True)),
        )

    async def adjust(self, charge: Charge, delta: int) -> None:
        await self._batches.submit((_ADJUST, (Charge(charge.subject, charge.quota, delta),), ()))

    async def _send(self, groups: list[_Group]) -> list[_Reply]:
        """One script call for ``groups``: per acquire group, the refused index and, per
        charge, its windows and the extra counted."""
        keys: list[str] = []
        args: list[int] = [len(groups)]
        for mode, charges, extras in groups:
            args += (mode, len(charges))
            for i, charge in enumerate(charges):
                keys += self._window_keys(charge)
                extra = extras[i] if i < len(extras) else 0
                args += (self.limit(charge.quota), charge.quota.window_s, charge.cost, extra)
        self.round_trips += 1
        async with asyncio.timeout(self._timeout):
            flat = await self._script(keys=keys, args=args)
        replies: list[_Reply] = []
        at = 0
        for mode, charges, _ in groups:
            if mode == _ADJUST:
                replies.append(None)
                continue
            refused = int(flat[at])
            windows = []
            for i in range(len(charges)):
                p, pt, c, ct, granted = flat[at + 1 + 5 * i : at + 6 + 5 * i]
                windows.append((int(p), int(pt) / 1000, int(c), int(ct) / 1000, int(granted)))
            at += 1 + 5 * len(charges)
            replies.append((refused, windows))
        return replies
