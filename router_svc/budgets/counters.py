"""Budget counters: spending and reservations per rule, checked and changed atomically.

Per rule (keys under ``<state.key_prefix>budget:<rule id>:``):

* ``spent:<period tag>``: a hash of bucket index -> nano-USD settled in that bucket, plus
  ``b`` (the base: the ledger's total up to the last reconciliation, and folded old buckets);
* ``res`` (hash reservation id -> nano-USD), ``resz`` (sorted set reservation id -> deadline in
  epoch ms) and ``rest`` (their total): the worst-case costs of attempts in flight. Every
  operation first drops the reservations whose deadline passed (a replica that crashed
  mid-attempt), so they stop counting.

:class:`RedisCounters` runs each operation as one Lua script (EVALSHA: atomic on the server,
https://redis.io/docs/latest/develop/interactive/programmability/eval-intro/), so replicas
reserving at once never both take the last room. :class:`MemoryCounters` does the same in this
process (atomic because nothing in it awaits). Amounts are integers in nano-USD (1e-9 USD).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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

_RESERVE = (
    _SPENT_LUA
    + """
local peek, now, id, deadline = ARGV[1] == '1', tonumber(ARGV[2]), ARGV[3], ARGV[4]
local n = #KEYS / 4
local out = {-1}
for i = 0, n - 1 do
  local k, a = i * 4, 5 + i * 4
  local gone = redis.call('ZRANGEBYSCORE', KEYS[k + 3], '-inf', now)
  for _, rid in ipairs(gone) do
    local amount = redis.call('HGET', KEYS[k + 2], rid)
    if amount then
      redis.call('DECRBY', KEYS[k + 4], amount)
      redis.call('HDEL', KEYS[k + 2], rid)
    end
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', now) end
  local s = spent(KEYS[k + 1], tonumber(ARGV[a + 2]))
  local r = math.max(tonumber(redis.call('GET', KEYS[k + 4]) or '0'), 0)
  out[#out + 1] = s
  out[#out + 1] = r
  if not peek and out[1] == -1 and s + r + tonumber(ARGV[a]) > tonumber(ARGV[a + 1]) then
    out[1] = i
  end
end
if not peek and out[1] == -1 then
  for i = 0, n - 1 do
    local k, a = i * 4, 5 + i * 4
    redis.call('HSET', KEYS[k + 2], id, ARGV[a])
    redis.call('ZADD', KEYS[k + 3], deadline, id)
    redis.call('INCRBY', KEYS[k + 4], ARGV[a])
    for j = 2, 4 do redis.call('PEXPIRE', KEYS[k + j], ARGV[a + 3]) end
  end
end
return out
"""
)

_SETTLE = (
    _SPENT_LUA
    + """
local id, cost = ARGV[1], tonumber(ARGV[2])
local n = #KEYS / 4
local out = {}
for i = 0, n - 1 do
  local k, a = i * 4, 3 + i * 4
  local amount = redis.call('HGET', KEYS[k + 2], id)
  if amount then
    redis.call('DECRBY', KEYS[k + 4], amount)
    redis.call('HDEL', KEYS[k + 2], id)
    redis.call('ZREM', KEYS[k + 3], id)
  end
  if cost > 0 then redis.call('HINCRBY', KEYS[k + 1], ARGV[a], cost) end
  local fold = tonumber(ARGV[a + 1])
  if fold > 0 and redis.call('HLEN', KEYS[k + 1]) > FOLD_AT then
    local all = redis.call('HGETALL', KEYS[k + 1])
    for j = 1, #all, 2 do
      if all[j] ~= 'b' and tonumber(all[j]) < fold then
        redis.call('HINCRBY', KEYS[k + 1], 'b', all[j + 1])
        redis.call('HDEL', KEYS[k + 1], all[j])
      end
    end
  end
  redis.call('PEXPIRE', KEYS[k + 1], ARGV[a + 3])
  out[#out + 1] = spent(KEYS[k + 1], tonumber(ARGV[a + 2]))
end
return out
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


def _lines_argv(lines: Sequence[Line], res_ttl_ms: int) -> list[Any]:
    argv: list[Any] = []
    for line in lines:
        argv += [line.amount, line.hard, line.lo, res_ttl_ms]
    return argv


class RedisCounters:
    """Budget counters in Redis, one Lua script per operation (``client``: a
    ``redis.asyncio.Redis``; ``prefix``: state.key_prefix; ``timeout_s``: per operation)."""

    def __init__(self, client: Any, prefix: str, timeout_s: float, res_ttl_ms: int) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout = timeout_s
        self._res_ttl_ms = res_ttl_ms
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._reconcile = client.register_script(_RECONCILE)

    def _keys(self, lines: Sequence[Line]) -> list[str]:
        return [self._prefix + key for line in lines for key in line.names()]

    async def reserve(
        self, lines: Sequence[Line], res_id: str, now_ms: int, deadline_ms: int, peek: bool
    ) -> tuple[int, list[tuple[int, int]]]:
        argv = ["1" if peek else "0", now_ms, res_id, deadline_ms]
        argv += _lines_argv(lines, self._res_ttl_ms)
        async with asyncio.timeout(self._timeout):
            out = await self._reserve(keys=self._keys(lines), args=argv)
        values = [int(v) for v in out]
        pairs = [(values[1 + 2 * i], values[2 + 2 * i]) for i in range(len(lines))]
        return values[0], pairs

    async def settle(self, lines: Sequence[Line], res_id: str, cost: int) -> list[int]:
        argv: list[Any] = [res_id, cost]
        for line in lines:
            argv += [line.bucket, line.fold_below, line.lo, line.spent_ttl_ms]
        async with asyncio.timeout(self._timeout):
            out = await self._settle(keys=self._keys(lines), args=argv)
        return [int(v) for v in out]

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
