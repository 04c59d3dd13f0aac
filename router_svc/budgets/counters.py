"""Budget counters: spending and reservations per rule, checked and changed atomically.

Per rule (keys under ``<state.key_prefix>budget:<rule id>:``):

* ``spent:<period tag>``: a hash of bucket index -> nano-USD settled in that bucket, plus
  ``b`` (the base: the ledger's total up to the last reconciliation, and folded old buckets);
* ``res`` (hash reservation id -> nano-USD), ``resz`` (sorted set reservation id -> deadline in
  epoch ms) and ``rest`` (their total): the worst-case costs of attempts in flight. Every
  operation first drops the reservations whose deadline passed (a replica that crashed
  mid-attempt), so they stop counting.

:class:`RedisCounters` runs operations as one Lua script (EVALSHA: atomic on the server,
https://redis.io/docs/latest/develop/interactive/programmability/eval-intro/), so replicas
reserving at once never both take the last room; operations made while a call is in flight go
out together in the next one (a group commit, applied in order), and settles are queued
without waiting. :class:`MemoryCounters` does the same in this
process (atomic because nothing in it awaits). Amounts are integers in nano-USD (1e-9 USD).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmrouter.group_commit import GroupCommit

__all__ = ["KEEP_BUCKETS", "Counters", "Line", "MemoryCounters", "RedisCounters", "nano", "usd"]

# Calendar buckets older than this many buckets are folded into the base once a period has
# more than _FOLD_AT buckets (reconciliation lags far less than this).
KEEP_BUCKETS = 15
_FOLD_AT = 48


def nano(usd: float) -> int:
    """``usd`` in whole nano-USD (rounded up: a reservation never undercounts)."""
    return int(-(-usd * 1e9 // 1))


def usd(nano_usd: int) -> float:
    """Nano-USD as USD."""
    return nano_usd / 1e9


@dataclass(frozen=True, slots=True)
class Line:
    """One rule's part of an operation."""

    # Key prefix of the rule ("budget:<rule id>:").
    prefix: str
    # Period tag of the spent hash (Period.tag).
    tag: str
    # Lowest bucket index counted (rolling windows; 0 for calendar periods: all).
    lo: int
    # Bucket index of now.
    bucket: int
    # Calendar: fold buckets below this into the base; 0: never (rolling windows).
    fold_below: int
    # Milliseconds the spent hash is kept after its last change.
    spent_ttl_ms: int
    # The rule's hard limit, nano-USD.
    hard: int = 0
    # What the attempt reserves, nano-USD.
    amount: int = 0

    def names(self) -> tuple[str, str, str, str]:
        """The four keys of this line, in the scripts' order."""
        p = self.prefix
        return (f"{p}spent:{self.tag}", f"{p}res", f"{p}resz", f"{p}rest")


class Counters(Protocol):
    """The operations on budget counters (see the module docstring)."""

    async def reserve(
        self, lines: Sequence[Line], res_id: str, now_ms: int, deadline_ms: int, peek: bool
    ) -> tuple[int, list[tuple[int, int]]]:
        """Reserve each line's amount under ``res_id`` until ``deadline_ms`` if every line
        fits (spent + reserved + amount <= hard), else none. Returns the index of the first
        line that does not fit (-1: reserved) and each line's (spent, reserved) before.
        ``peek``: only read (nothing reserved; the index is -1)."""
        ...

    async def settle(self, lines: Sequence[Line], res_id: str, cost: int) -> list[int]:
        """Release ``res_id`` and add ``cost`` to each line's current bucket; each line's
        spent after."""
        ...

    async def reconcile(self, line: Line, ledger: int, cutoff: int, rolling: bool) -> int:
        """Replace every bucket below ``cutoff`` (and the base) by ``ledger``; spent after."""
        ...


_SPENT_LUA = """
local function spent(key, lo)
  local total = 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local f = all[i]
    if f == 'b' or tonumber(f) >= lo then total = total + tonumber(all[i + 1])
    else redis.call('HDEL', key, f) end
  end
  return total
end
"""

# Reserves and settles, checked and applied in order (ARGV[1]: how many). Per operation: its
# mode and line count n, then its header and its arguments per line:
#   'r' reserve: peek, now ms, id, deadline ms; per line amount, hard, lo, TTL of the
#       reservation keys. Returns the index of the first line that did not fit (-1: reserved)
#       and each line's spent and reserved before.
#   's' settle: id, cost; per line bucket, fold below, lo, TTL of the spent hash. Returns each
#       line's spent after.
#   'g' grant a lease (.leases): id, now ms, deadline ms; per line the slice, hard, lo, TTL of
#       the reservation keys. Each line's slice is added to the reservation ``id`` if it fits
#       (lines independently). Returns each line's slice granted (0: none).
#   'f' flush a lease: id, deadline ms, TTL of the reservation keys; per line cost, give back,
#       bucket, fold below, lo, TTL of the spent hash. Moves ``cost`` from the reservation to
#       spent and releases ``give back`` (the reservation never below 0; the cost is added in
#       full). Returns each line's spent after.
# KEYS: each line's four keys (Line.names), in order; replies flattened in order.
_BATCH = (
    _SPENT_LUA
    + """
local function reserve(k, a, n)
  local peek, now, id, deadline = ARGV[a] == '1', tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
  local out = {-1}
  for i = 0, n - 1 do
    local kk, aa = k + i * 4, a + 4 + i * 4
    local gone = redis.call('ZRANGEBYSCORE', KEYS[kk + 3], '-inf', now)
    for _, rid in ipairs(gone) do
      local amount = redis.call('HGET', KEYS[kk + 2], rid)
      if amount then
        redis.call('DECRBY', KEYS[kk + 4], amount)
        redis.call('HDEL', KEYS[kk + 2], rid)
      end
    end
    if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[kk + 3], '-inf', now) end
    local s = spent(KEYS[kk + 1], tonumber(ARGV[aa + 2]))
    local r = math.max(tonumber(redis.call('GET', KEYS[kk + 4]) or '0'), 0)
    out[#out + 1] = s
    out[#out + 1] = r
    if not peek and out[1] == -1 and s + r + tonumber(ARGV[aa]) > tonumber(ARGV[aa + 1]) then
      out[1] = i
    end
  end
  if not peek and out[1] == -1 then
    for i = 0, n - 1 do
      local kk, aa = k + i * 4, a + 4 + i * 4
      redis.call('HSET', KEYS[kk + 2], id, ARGV[aa])
      redis.call('ZADD', KEYS[kk + 3], deadline, id)
      redis.call('INCRBY', KEYS[kk + 4], ARGV[aa])
      for j = 2, 4 do redis.call('PEXPIRE', KEYS[kk + j], ARGV[aa + 3]) end
    end
  end
  return out
end

local function settle(k, a, n)
  local id, cost = ARGV[a], tonumber(ARGV[a + 1])
  local out = {}
  for i = 0, n - 1 do
    local kk, aa = k + i * 4, a + 2 + i * 4
    local amount = redis.call('HGET', KEYS[kk + 2], id)
    if amount then
      redis.call('DECRBY', KEYS[kk + 4], amount)
      redis.call('HDEL', KEYS[kk + 2], id)
      redis.call('ZREM', KEYS[kk + 3], id)
    end
    if cost > 0 then redis.call('HINCRBY', KEYS[kk + 1], ARGV[aa], cost) end
    local fold = tonumber(ARGV[aa + 1])
    if fold > 0 and redis.call('HLEN', KEYS[kk + 1]) > FOLD_AT then
      local all = redis.call('HGETALL', KEYS[kk + 1])
      for j = 1, #all, 2 do
        if all[j] ~= 'b' and tonumber(all[j]) < fold then
          redis.call('HINCRBY', KEYS[kk + 1], 'b', all[j + 1])
          redis.call('HDEL', KEYS[kk + 1], all[j])
        end
      end
    end
    redis.call('PEXPIRE', KEYS[kk + 1], ARGV[aa + 3])
    out[#out + 1] = spent(KEYS[kk + 1], tonumber(ARGV[aa + 2]))
  end
  return out
end

local function prune(k, now)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[k + 3], '-inf', now)
  for _, rid in ipairs(gone) do
    local amount = redis.call('HGET', KEYS[k + 2], rid)
    if amount then
      redis.call('DECRBY', KEYS[k + 4], amount)
      redis.call('HDEL', KEYS[k + 2], rid)
    end
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', now) end
end

local function grant(k, a, n)
  local id, now, deadline = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local out = {}
  for i = 0, n - 1 do
    local kk, aa = k + i * 4, a + 3 + i * 4
    local extra = tonumber(ARGV[aa])
    prune(kk, now)
    local s = spent(KEYS[kk + 1], tonumber(ARGV[aa + 2]))
    local r = math.max(tonumber(redis.call('GET', KEYS[kk + 4]) or '0'), 0)
    if extra > 0 and s + r + extra <= tonumber(ARGV[aa + 1]) then
      redis.call('HINCRBY', KEYS[kk + 2], id, extra)
      redis.call('ZADD', KEYS[kk + 3], deadline, id)
      redis.call('INCRBY', KEYS[kk + 4], extra)
      for j = 2, 4 do redis.call('PEXPIRE', KEYS[kk + j], ARGV[aa + 3]) end
      out[#out + 1] = extra
    else
      out[#out + 1] = 0
    end
  end
  return out
end

local function flush(k, a, n)
  local id, deadline, ttl = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local out = {}
  for i = 0, n - 1 do
    local kk, aa = k + i * 4, a + 3 + i * 6
    local cost, give = tonumber(ARGV[aa]), tonumber(ARGV[aa + 1])
    local amount = tonumber(redis.call('HGET', KEYS[kk + 2], id) or '0')
    local take = math.min(amount, cost + give)
    if take > 0 then redis.call('DECRBY', KEYS[kk + 4], take) end
    if amount > 0 and amount - take <= 0 then
      redis.call('HDEL', KEYS[kk + 2], id)
      redis.call('ZREM', KEYS[kk + 3], id)
    elseif amount > 0 then
      redis.call('HSET', KEYS[kk + 2], id, amount - take)
      redis.call('ZADD', KEYS[kk + 3], deadline, id)
      for j = 2, 4 do redis.call('PEXPIRE', KEYS[kk + j], ttl) end
    end
    if cost > 0 then redis.call('HINCRBY', KEYS[kk + 1], ARGV[aa + 2], cost) end
    local fold = tonumber(ARGV[aa + 3])
    if fold > 0 and redis.call('HLEN', KEYS[kk + 1]) > FOLD_AT then
      local all = redis.call('HGETALL', KEYS[kk + 1])
      for j = 1, #all, 2 do
        if all[j] ~= 'b' and tonumber(all[j]) < fold then
          redis.call('HINCRBY', KEYS[kk + 1], 'b', all[j + 1])
          redis.call('HDEL', KEYS[kk + 1], all[j])
        end
      end
    end
    redis.call('PEXPIRE', KEYS[kk + 1], ARGV[aa + 5])
    out[#out + 1] = spent(KEYS[kk + 1], tonumber(ARGV[aa + 4]))
  end
  return out
end

local result = {}
local k, a = 0, 2
for _ = 1, tonumber(ARGV[1]) do
  local mode, n = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  local out
  if mode == 'r' then
    out = reserve(k, a, n)
    a = a + 4 + 4 * n
  elseif mode == 'g' then
    out = grant(k, a, n)
    a = a + 3 + 4 * n
  elseif mode == 'f' then
    out = flush(k, a, n)
    a = a + 3 + 6 * n
  else
    out = settle(k, a, n)
    a = a + 2 + 4 * n
  end
  k = k + 4 * n
  for _, v in ipairs(out) do result[#result + 1] = v end
end
return result
""".replace("FOLD_AT", str(_FOLD_AT))
)

_RECONCILE = (
    _SPENT_LUA
    + """
local ledger, cutoff, rolling = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local all = redis.call('HGETALL', KEYS[1])
for j = 1, #all, 2 do
  if all[j] == 'b' or tonumber(all[j]) < cutoff then redis.call('HDEL', KEYS[1], all[j]) end
end
local into = 'b'
if rolling then into = tostring(cutoff - 1) end
redis.call('HINCRBY', KEYS[1], into, ledger)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return spent(KEYS[1], tonumber(ARGV[5]))
"""
)


# One operation of a batch: its mode ("r" or "s"), its lines and its arguments (the header,
# then the lines'); and its reply (see _BATCH).
_Op = tuple[str, Sequence[Line], list[Any]]


class RedisCounters:
    """Budget counters in Redis (``client``: a ``redis.asyncio.Redis``; ``prefix``:
    state.key_prefix; ``timeout_s``: per script call).

    Reserves and settles go out through a group commit (:class:`llmrouter.group_commit.
    GroupCommit`): those made while a script call is in flight go out together in the next
    one, applied in order by one script (atomic on the server), so under load one round trip
    serves many attempts. :meth:`settle_later` queues a settle without a task of its own."""

    def __init__(self, client: Any, prefix: str, timeout_s: float, res_ttl_ms: int) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout = timeout_s
        self._res_ttl_ms = res_ttl_ms
        self._batch = client.register_script(_BATCH)
        self._reconcile = client.register_script(_RECONCILE)
        self._ops: GroupCommit[_Op, list[int]] = GroupCommit(self._send)
        # Script calls made for reserves and settles (each one round trip), for benchmarks.
        self.round_trips = 0

    async def _send(self, ops: list[_Op]) -> list[list[int]]:
        keys: list[str] = []
        args: list[Any] = [len(ops)]
        prefix = self._prefix
        for mode, lines, argv in ops:
            args += (mode, len(lines))
            args += argv
            for line in lines:
                p = prefix + line.prefix
                keys += (f"{p}spent:{line.tag}", f"{p}res", f"{p}resz", f"{p}rest")
        self.round_trips += 1
        async with asyncio.timeout(self._timeout):
            flat = await self._batch(keys=keys, args=args)
        replies, at = [], 0
        for mode, lines, _ in ops:
            size = 1 + 2 * len(lines) if mode == "r" else len(lines)
            replies.append([int(v) for v in flat[at : at + size]])
            at += size
        return replies

    async def reserve(
        self, lines: Sequence[Line], res_id: str, now_ms: int, deadline_ms: int, peek: bool
    ) -> tuple[int, list[tuple[int, int]]]:
        argv: list[Any] = ["1" if peek else "0", now_ms, res_id, deadline_ms]
        ttl = self._res_ttl_ms
        for line in lines:
            argv += (line.amount, line.hard, line.lo, ttl)
        values = await self._ops.submit(("r", lines, argv))
        pairs = [(values[1 + 2 * i], values[2 + 2 * i]) for i in range(len(lines))]
        return values[0], pairs

    async def reserve_and_grant(
        self,
        lines: Sequence[Line],
        res_id: str,
        now_ms: int,
        deadline_ms: int,
        extras: Sequence[int],
        lease_id: str,
    ) -> tuple[int, list[tuple[int, int]], list[int]]:
        """:meth:`reserve`, then :meth:`grant` in the same script call: the reserve's answer
        and the slices granted."""
        argv: list[Any] = ["0", now_ms, res_id, deadline_ms]
        grant: list[Any] = [lease_id, now_ms, deadline_ms]
        ttl = self._res_ttl_ms
        for line, extra in zip(lines, extras, strict=True):
            argv += (line.amount, line.hard, line.lo, ttl)
            grant += (extra, line.hard, line.lo, ttl)
        reserved = self._ops.post(("r", lines, argv))
        granted = self._ops.post(("g", lines, grant))
        values, got = await asyncio.gather(reserved, granted)
        pairs = [(values[1 + 2 * i], values[2 + 2 * i]) for i in range(len(lines))]
        return values[0], pairs, got

    def _settle_op(self, lines: Sequence[Line], res_id: str, cost: int) -> _Op:
        argv: list[Any] = [res_id, cost]
        for line in lines:
            argv += (line.bucket, line.fold_below, line.lo, line.spent_ttl_ms)
        return ("s", lines, argv)

    async def settle(self, lines: Sequence[Line], res_id: str, cost: int) -> list[int]:
        return await self._ops.submit(self._settle_op(lines, res_id, cost))

    def settle_later(
        self, lines: Sequence[Line], res_id: str, cost: int
    ) -> asyncio.Future[list[int]]:
        """:meth:`settle` queued for the next script call, without waiting and without a task:
        each line's spent after, or the store's failure, arrives in the future."""
        return self._ops.post(self._settle_op(lines, res_id, cost))

    def flush_later(
        self, items: Sequence[tuple[Line, int, int]], lease_id: str, deadline_ms: int
    ) -> asyncio.Future[list[int]]:
        """Queue moving each (line, cost, give back) from reservation ``lease_id`` to spent
        (the cost) and back to the room (give back), renewing its deadline; each line's spent
        after arrives in the future."""
        argv: list[Any] = [lease_id, deadline_ms, self._res_ttl_ms]
        for line, cost, give in items:
            argv += (cost, give, line.bucket, line.fold_below, line.lo, line.spent_ttl_ms)
        return self._ops.post(("f", [line for line, _, _ in items], argv))

    async def drain(self) -> None:
        """Wait for the queued and in-flight script calls."""
        await self._ops.drain()

    async def reconcile(self, line: Line, ledger: int, cutoff: int, rolling: bool) -> int:
        argv = [ledger, cutoff, "1" if rolling else "0", line.spent_ttl_ms, line.lo]
        async with asyncio.timeout(self._timeout):
            out = await self._reconcile(keys=[self._prefix + line.names()[0]], args=argv)
        return int(out)


@dataclass
class _Rule:
    """One rule's counters in memory."""

    spent: dict[str, dict[str, int]] = field(default_factory=dict)  # tag -> bucket -> nano
    reserved: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (nano, deadline)

    def prune(self, now_ms: int) -> None:
        gone = [rid for rid, (_, deadline) in self.reserved.items() if deadline <= now_ms]
        for rid in gone:
            del self.reserved[rid]

    def total(self, tag: str, lo: int) -> int:
        buckets = self.spent.get(tag, {})
        for name in [b for b in buckets if b != "b" and int(b) < lo]:
            del buckets[name]
        return sum(buckets.values())


class MemoryCounters:
    """Budget counters in this process (the embedded backend, and each replica's own counts
    while the shared store does not answer). Periods other than the current are dropped on
    their first use after it ends."""

    def __init__(self, clock_ms: Any = None) -> None:
        self._rules: dict[str, _Rule] = {}

    def _rule(self, line: Line) -> _Rule:
        rule = self._rules.get(line.prefix)
        if rule is None:
            rule = self._rules[line.prefix] = _Rule()
        if line.tag not in rule.spent:
            rule.spent = {line.tag: {}}  # a new period: the old one's buckets go
        return rule

    async def reserve(
        self, lines: Sequence[Line], res_id: str, now_ms: int, deadline_ms: int, peek: bool
    ) -> tuple[int, list[tuple[int, int]]]:
        refused, pairs = -1, []
        for i, line in enumerate(lines):
            rule = self._rule(line)
            rule.prune(now_ms)
            spent = rule.total(line.tag, line.lo)
            reserved = sum(amount for amount, _ in rule.reserved.values())
            pairs.append((spent, reserved))
            if not peek and refused < 0 and spent + reserved + line.amount > line.hard:
                refused = i
        if not peek and refused < 0:
            for line in lines:
                self._rule(line).reserved[res_id] = (line.amount, deadline_ms)
        return refused, pairs

    async def settle(self, lines: Sequence[Line], res_id: str, cost: int) -> list[int]:
        return self.settle_now(lines, res_id, cost)

    def settle_now(self, lines: Sequence[Line], res_id: str, cost: int) -> list[int]:
        """:meth:`settle` without a coroutine (nothing here waits): the embedded backend settles
        each attempt inline instead of in a task of its own."""
        out = []
        for line in lines:
            rule = self._rule(line)
            rule.reserved.pop(res_id, None)
            buckets = rule.spent[line.tag]
            if cost > 0:
                key = str(line.bucket)
                buckets[key] = buckets.get(key, 0) + cost
            if line.fold_below > 0 and len(buckets) > _FOLD_AT:
                for name in [b for b in buckets if b != "b" and int(b) < line.fold_below]:
                    buckets["b"] = buckets.get("b", 0) + buckets.pop(name)
            out.append(rule.total(line.tag, line.lo))
        return out

    async def reconcile(self, line: Line, ledger: int, cutoff: int, rolling: bool) -> int:
        buckets = self._rule(line).spent[line.tag]
        for name in [b for b in buckets if b == "b" or int(b) < cutoff]:
            del buckets[name]
        into = str(cutoff - 1) if rolling else "b"
        buckets[into] = buckets.get(into, 0) + ledger
        return self._rule(line).total(line.tag, line.lo)
