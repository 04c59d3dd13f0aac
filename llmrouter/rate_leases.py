"""Quota leases: a replica counts a slice of a limit in the shared store ahead of use, then
admits requests from it in process, so most requests under a large limit cost no round trip.

How it stays one limit across replicas: a lease is counted in the store's current window when
it is granted, checked as if all of it were used at once, and only when the request's own
cost fits too; a lease is spent only until that window ends (by the store's clock: the
window's TTL, as the store returned it), after which its rest is dropped. So the replicas
together never admit more than the store would have admitted request by request (no
over-admission). What it costs: units leased and not yet spent are unavailable to the other
replicas, at most one slice per replica and quota (a slice is ``percent`` % of the limit, and
is granted only while the window still has room for it), so a limit of N admits at least
``N - replicas * slice`` per window. Limits under ``100 / percent`` units lease nothing and are
counted in the store request by request, exactly.

Corrections of a charge (:meth:`Leases.adjust`: token reservations settled to the usage) go
into the live lease when there is one: a give-back refills the slice (the units stay counted
in the store, for this replica), a surplus beyond one slice is handed back to the store, and
an overdraft the slice cannot cover is counted in the store.

The x-ratelimit headers of a request admitted from a lease show the store's standing when
the lease was granted, plus the lease's unspent units: they do not see what the other
replicas admitted since.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .rate_values import Charge, Quota, Standing

__all__ = ["WINDOW_MARGIN_S", "Leases"]

# Seconds before the store's window ends that a lease stops being spent (the store's clock
# and ours measure the same interval, but the reply took some time to arrive).
WINDOW_MARGIN_S = 0.25
# Leases kept before the table starts over (subjects come and go).
_MAX_LEASES = 10_000

_Key = tuple[tuple[str, ...], Quota]


@dataclass(slots=True)
class _Lease:
    # Units counted in the store and not yet spent.
    balance: int
    # Monotonic time after which the lease is not spent (its window ended).
    until: float
    # The store's remaining units when the lease was granted (the lease already counted).
    remaining: int
    # The limit enforced, and the monotonic time the window holds nothing.
    limit: int
    reset_at: float
    # The most the balance keeps (one slice); corrections beyond it go back to the store.
    cap: int


class Leases:
    """Slices of quotas leased from the shared counters, spent in this process.

    ``percent``: a slice's share of a quota's limit (0 < percent <= 100). ``clock``:
    monotonic seconds.
    """

    def __init__(self, percent: float, clock: Callable[[], float]) -> None:
        self.percent = percent
        self._clock = clock
        self._leases: dict[_Key, _Lease] = {}
        # Quotas whose refill is in flight: one at a time per quota, so a burst of misses
        # leases one slice, not one each.
        self._refilling: set[_Key] = set()
        self._slices: dict[Quota, int] = {}
        # Requests admitted from a lease, and leases granted (for benchmarks and tests).
        self.hits = 0
        self.grants = 0

    def slice(self, quota: Quota) -> int:
        """Units a lease of ``quota`` holds: ``percent`` % of its limit, rounded down."""
        found = self._slices.get(quota)
        if found is None:
            found = math.floor(quota.limit * self.percent / 100)
            self._slices[quota] = found
        return found

    def take(self, charges: Sequence[Charge]) -> tuple[Standing, ...] | None:
        """Admit ``charges`` from live leases (all of them, or none: then None, and the
        request goes to the store); their standings for the x-ratelimit headers."""
        now = self._clock()
        found = []
        for charge in charges:
            lease = self._leases.get((charge.subject, charge.quota))
            if lease is None or lease.balance < charge.cost or now >= lease.until:
                return None
            found.append(lease)
        self.hits += 1
        shown = []
        for charge, lease in zip(charges, found, strict=True):
            lease.balance -= charge.cost
            reset_s = lease.reset_at - now
            shown.append(
                Standing(
                    charge,
                    lease.limit,
                    lease.remaining + lease.balance,
                    reset_s if reset_s > 0 else 0.0,
                    0.0,
                )
            )
        return tuple(shown)

    def wanted(self, charges: Sequence[Charge]) -> tuple[int, ...]:
        """Per charge going to the store, the extra units to ask for (a slice, or 0 when
        the quota is too small to lease or a refill is already in flight); marks those
        refills in flight until :meth:`granted` or :meth:`failed`."""
        extras = []
        for charge in charges:
            key = (charge.subject, charge.quota)
            extra = self.slice(charge.quota)
            if extra < 1 or key in self._refilling:
                extras.append(0)
                continue
            self._refilling.add(key)
            extras.append(extra)
        return tuple(extras)

    def failed(self, charges: Sequence[Charge], extras: Sequence[int]) -> None:
        """The store did not answer: the refills asked for are no longer in flight."""
        for charge, extra in zip(charges, extras, strict=True):
            if extra:
                self._refilling.discard((charge.subject, charge.quota))

    def granted(
        self,
        standings: Sequence[Standing],
        extras: Sequence[int],
        granted: Sequence[int],
        window_ends_s: Sequence[float],
    ) -> tuple[Standing, ...]:
        """Record what the store counted beyond the charges (``granted``, per charge) as
        leases spendable until their windows end; the standings as the headers show them
        (the store's remaining plus this replica's unspent lease)."""
        now = self._clock()
        shown = []
        for standing, extra, got, ends_s in zip(
            standings, extras, granted, window_ends_s, strict=True
        ):
            charge = standing.charge
            key = (charge.subject, charge.quota)
            if extra:
                self._refilling.discard(key)
            lease = self._leases.get(key)
            if lease is not None and now >= lease.until:
                del self._leases[key]
                lease = None
            if got:
                self.grants += 1
                until = now + ends_s - WINDOW_MARGIN_S
                if lease is not None and abs(lease.until - until) < WINDOW_MARGIN_S:
                    lease.balance += got  # the same window: one lease
                else:  # a new window: the old lease's rest is dropped with its window
                    if len(self._leases) >= _MAX_LEASES:
                        self._leases.clear()
                    lease = _Lease(got, until, 0, standing.limit, 0.0, got)
                    self._leases[key] = lease
            if lease is not None:
                lease.remaining = standing.remaining
                lease.reset_at = now + standing.reset_s
                standing = Standing(
                    charge,
                    standing.limit,
                    standing.remaining + lease.balance,
                    standing.reset_s,
                    standing.retry_after_s,
                )
            shown.append(standing)
        return tuple(shown)

    def adjust(self, charge: Charge, delta: int) -> int:
        """Correct ``charge`` by ``delta`` units within its live lease; the part the lease
        does not absorb, for the store (0: nothing to send): an overdraft beyond the
        balance, or a give-back beyond one slice."""
        lease = self._leases.get((charge.subject, charge.quota))
        if lease is None or self._clock() >= lease.until:
            return delta
        lease.balance -= delta
        if lease.balance < 0:
            rest, lease.balance = -lease.balance, 0
            return rest
        cap = lease.cap
        if lease.balance > cap:
            rest, lease.balance = cap - lease.balance, cap
            return rest
        return 0
