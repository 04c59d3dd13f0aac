"""Budget leases: a replica reserves a slice of a rule's room in the shared store ahead of use,
then reserves and settles attempts against it in process, so most attempts under a large
budget cost no round trip (as the rate limiter's leases, :mod:`llmrouter.rate_leases`).

How it stays one budget across replicas: a lease is a reservation in the store (id
``lease:<replica>``, counted in the rule's reserved total like an attempt's), granted only
when it fits (spent + reserved + slice <= hard), so the replicas together never reserve past
the hard limit. Attempts admitted here take their worst case from the lease's balance; their
real costs are flushed to the store every :data:`FLUSH_S` in one script call, moving that
much from the lease's reservation to spent (the sum stays). So the hard limit holds exactly as
without leases (an attempt costing more than its worst case overshoots as it would anyway).

What it costs: room leased and not yet used is unavailable to the other replicas, at most one
slice (``percent`` % of the hard limit) per replica and rule, until it is used or its
deadline passes (``reservation_ttl_s``, renewed at each flush: a crashed replica's lease
expires like its attempts' reservations). A rule leases only when a slice holds at least
:data:`MIN_ATTEMPTS` worst cases of the attempt asking, so small budgets stay exact, counted
attempt by attempt. Costs flushed late by up to :data:`FLUSH_S` show in the store (and the
alerts) that much later; costs of a replica that crashes before its flush reach the counters
through reconciliation from the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .counters import Line

__all__ = ["FLUSH_S", "MIN_ATTEMPTS", "Leases"]

# Seconds between flushes of the costs settled against leases.
FLUSH_S = 0.05
# A slice must hold this many worst cases of an attempt for its rule to lease.
MIN_ATTEMPTS = 8


@dataclass(slots=True)
class _Lease:
    # Leased in the store and not reserved by an attempt here (nano-USD).
    balance: int = 0
    # Settled here and not yet flushed to the store.
    pending: int = 0
    # Monotonic time after which the lease is not used (half its deadline in the store).
    until: float = 0.0
    # The line of the last settle (the bucket its cost goes to).
    line: Line | None = None


class Leases:
    """Slices of budget rules leased from the store, spent in this process (see the module
    docstring). ``percent``: a slice's share of a rule's hard limit; ``ttl_s``: seconds a
    lease lives in the store after its last grant or flush; ``clock``: monotonic seconds."""

    def __init__(self, percent: float, ttl_s: float, clock: Callable[[], float]) -> None:
        self.percent = percent
        self._ttl_s = ttl_s
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._refilling: set[str] = set()
        # Attempts admitted from leases, and slices granted (benchmarks, tests).
        self.hits = 0
        self.grants = 0

    def take(self, lines: Sequence[Line]) -> bool:
        """Reserve every line's amount from its live lease (all or none)."""
        now = self._clock()
        found = []
        for line in lines:
            lease = self._leases.get(line.prefix)
            if lease is None or lease.balance < line.amount or now >= lease.until:
                return False
            found.append(lease)
        for line, lease in zip(lines, found, strict=True):
            lease.balance -= line.amount
        self.hits += 1
        return True

    def wanted(self, lines: Sequence[Line]) -> list[int]:
        """Per line, the slice to ask the store for along with this attempt (0: none: too
        small a budget, or a refill already asked); marks those refills in flight until
        :meth:`granted`."""
        out = []
        for line in lines:
            extra = int(line.hard * self.percent / 100)
            if extra < MIN_ATTEMPTS * max(line.amount, 1) or line.prefix in self._refilling:
                out.append(0)
                continue
            self._refilling.add(line.prefix)
            out.append(extra)
        return out

    def granted(self, lines: Sequence[Line], extras: Sequence[int], got: Sequence[int]) -> None:
        """Record the slices the store granted (``got``, per line; zeros when the call
        failed)."""
        now = self._clock()
        for line, extra, amount in zip(lines, extras, got, strict=True):
            if not extra:
                continue
            self._refilling.discard(line.prefix)
            if amount <= 0:
                continue
            self.grants += 1
            lease = self._leases.setdefault(line.prefix, _Lease())
            lease.balance += amount
            lease.line = lease.line or line
            lease.until = now + self._ttl_s / 2

    def settle(self, lines: Sequence[Line], reserved: Sequence[int], cost: int) -> bool:
        """An attempt admitted from the leases cost ``cost``: its worst case (``reserved``,
        per line) comes back to the balance and the cost waits for the next flush. False when
        a lease is gone (dropped after a failed flush; the cost reaches the store through
        reconciliation)."""
        ok = True
        for line, amount in zip(lines, reserved, strict=True):
            lease = self._leases.get(line.prefix)
            if lease is None:
                ok = False
                continue
            lease.balance += amount - cost
            lease.pending += cost
            lease.line = line
        return ok

    def flush(self) -> list[tuple[Line, int, int]]:
        """What to send to the store now: per lease with costs pending, its last line, the
        cost and the balance to give back (an overdrawn balance: 0, the overdraft is
        spent, counted with the cost); the leases are renewed (their deadline moves)."""
        now = self._clock()
        out = []
        for lease in self._leases.values():
            if lease.line is None or lease.pending == 0:
                continue
            give = 0
            if lease.balance < 0:  # attempts cost more than their worst case
                lease.balance = 0
            out.append((lease.line, lease.pending, give))
            lease.pending = 0
            lease.until = now + self._ttl_s / 2
        return out

    def drop(self) -> None:
        """Forget every lease (a flush failed: what the store holds is unknown; the leases
        there expire at their deadline)."""
        self._leases.clear()
        self._refilling.clear()

    def release(self) -> list[tuple[Line, int, int]]:
        """:meth:`flush`, giving back every balance too (shutdown); the leases are forgotten."""
        out = []
        for lease in self._leases.values():
            if lease.line is not None:
                out.append((lease.line, lease.pending, max(lease.balance, 0)))
        self._leases.clear()
        return out
