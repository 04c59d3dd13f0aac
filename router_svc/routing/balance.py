"""Balancing a model's deployments: which deployment an attempt on the model uses.

A model served by several deployments (README, "Deployments") spreads its attempts by its
``balancing`` strategy, each deployment counted by its ``weight``:

* ``least_outstanding`` (the default): the deployment with the fewest attempts in flight on
  this replica per unit of weight (:attr:`ModelEntry.outstanding`). Ties, which is every pick
  while the deployments are idle, are broken at random in proportion to weight: never "the
  first of the tied", the mistake that makes a least-busy balancer send most traffic to one
  backend under light load.
* ``weighted``: at random in proportion to weight.
* ``lowest_latency``: what a new attempt may expect to take on each deployment is its EWMA
  latency (merged over the replicas sharing ``[state]``) times its attempts in flight plus
  one; the deployments within ``latency_buffer`` of the best share the traffic at random by
  weight, and a slower one keeps a share that falls steeply with how much slower
  (:func:`latency_factor`). A deployment not measured yet counts as the fastest, so it gets
  tried beside it; one pick in twenty (:data:`EXPLORE`) ignores latency and draws by weight,
  so that a deployment once measured very slow is measured again.

A request walks one model's deployments with a :class:`Walk`: each deployment gets at most
``attempts_per_model`` tries; the deployments tried least come first (a failed deployment
hands the next attempt to another one, and a retry of the same deployment comes only after
every other was tried as often); among them the strategy picks, preferring those whose
breaker would admit an attempt.

Cost: one pick is one to three passes over the model's deployments and allocates nothing
(measured: README, "Deployments", ``bench/deployments.py``); a walk allocates three short
lists, once per model per request.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..errors import ProviderError
from ..registry import ModelEntry
from .policy import Decision

__all__ = ["EXPLORE", "Walk", "choose", "explain", "latency_factor", "preview"]

# lowest_latency: the share of picks made by weight alone, whatever the latencies.
EXPLORE = 0.05
# A Walk's try count of a deployment that is out (never picked again).
_OUT = 1 << 30
_INF = math.inf

Rand = Callable[[], float]


def choose(entries: Sequence[ModelEntry], usable: Sequence[bool], rand: Rand) -> int:
    """Index in ``entries`` (one model's deployments) of the deployment the model's strategy
    picks among those ``usable``; -1 when none is. ``rand``: uniform in [0, 1)."""
    config = entries[0].config
    strategy = config.balancing
    if strategy == "least_outstanding":
        return _least_outstanding(entries, usable, rand)
    if strategy == "lowest_latency":
        return _lowest_latency(entries, usable, rand, config.latency_buffer)
    return _weighted(entries, usable, rand)


def _weighted(entries: Sequence[ModelEntry], usable: Sequence[bool], rand: Rand) -> int:
    total = 0.0
    for i, entry in enumerate(entries):
        if usable[i]:
            total += entry.weight
    left = rand() * total
    chosen = -1
    for i, entry in enumerate(entries):
        if usable[i]:
            chosen = i
            left -= entry.weight
            if left < 0:
                break
    return chosen


def _least_outstanding(entries: Sequence[ModelEntry], usable: Sequence[bool], rand: Rand) -> int:
    best = _INF
    chosen = -1
    tied = 0.0  # the weight of the deployments tied at ``best`` so far
    for i, entry in enumerate(entries):
        if not usable[i]:
            continue
        weight = entry.weight
        load = entry.outstanding / weight
        if load < best:
            best, chosen, tied = load, i, weight
        elif load == best:
            # Weighted reservoir sampling: each tied deployment ends up chosen with
            # probability weight / (the tied deployments' weights).
            tied += weight
            if rand() * tied < weight:
                chosen = i
    return chosen


def _lowest_latency(
    entries: Sequence[ModelEntry], usable: Sequence[bool], rand: Rand, buffer: float
) -> int:
    if rand() < EXPLORE:
        return _weighted(entries, usable, rand)
    # One pass for the fastest measured latency and the best expectation; a deployment not
    # measured yet counts as the fastest (1 s when none is measured: then only the attempts in
    # flight tell the deployments apart), so its expectation is known only after the pass.
    # (Comparisons, not min(): this is the hot path.)
    fastest = best = unmeasured = _INF
    for i, entry in enumerate(entries):
        if not usable[i]:
            continue
        latency = entry.stats.merged_latency_s
        load = entry.outstanding + 1
        if latency is None:
            if load < unmeasured:
                unmeasured = load
        else:
            if latency < fastest:
                fastest = latency
            if latency * load < best:
                best = latency * load
    if fastest == _INF:
        fastest = 1.0
    if fastest * unmeasured < best:
        best = fastest * unmeasured
    limit = best * (1 + buffer)
    chosen = -1
    total = 0.0
    for i, entry in enumerate(entries):
        if not usable[i]:
            continue
        latency = entry.stats.merged_latency_s
        expected = (fastest if latency is None else latency) * (entry.outstanding + 1)
        share = entry.weight
        if expected > limit:
            share *= latency_factor(expected, limit)
        total += share
        if rand() * total < share:  # weighted reservoir sampling, as above
            chosen = i
    return chosen


def _expected_latency(entry: ModelEntry, unmeasured: float) -> float:
    """What a new attempt on ``entry`` may expect to take: its EWMA latency (``unmeasured``
    when it has none) times its attempts in flight plus this one. The load term makes the
    traffic spill over to the next fastest deployment while the fastest is busy (the load
    metric of Finagle's and Linkerd's peak-EWMA balancers), which also keeps every
    near-equal deployment measured."""
    latency = entry.stats.merged_latency_s
    return (unmeasured if latency is None else latency) * (entry.outstanding + 1)


def latency_factor(expected: float, limit: float) -> float:
    """The part of its weight a deployment keeps when a new attempt on it may expect to take
    ``expected`` seconds and the best expectation times ``1 + latency_buffer`` is ``limit``:
    all of it within the buffer, then falling with the 4th power of how far beyond: at 1.5x
    the best (a buffer of 25 %) 48 %, at 2x 15 %, at 3x 3 %. Soft, not a cliff: two equal
    deployments whose averages part by chance both keep traffic, so both stay measured, and
    the one that looked slower gets its share back as soon as it is not (a cliff would starve
    it of the samples that would show it)."""
    if expected <= limit:
        return 1.0
    ratio = limit / expected
    return ratio * ratio * ratio * ratio


def _fastest(entries: Sequence[ModelEntry], usable: Sequence[bool]) -> float | None:
    """The lowest measured latency among the usable deployments (None: none measured)."""
    fastest: float | None = None
    for i, entry in enumerate(entries):
        if usable[i]:
            latency = entry.stats.merged_latency_s
            if latency is not None and (fastest is None or latency < fastest):
                fastest = latency
    return fastest


def _admitting(entries: Sequence[ModelEntry], usable: list[bool]) -> bool:
    """Narrow ``usable`` to the deployments whose breaker would admit an attempt; False (and
    ``usable`` narrowed to none) when none would: the caller then draws from them all, each
    is tried and refused, and the refusals say why. One breaker check per deployment."""
    admitted = False
    for i, entry in enumerate(entries):
        if usable[i]:
            if entry.breaker.would_allow():
                admitted = True
            else:
                usable[i] = False
    return admitted


class Walk:
    """One request's walk over one model's deployments: how often each was tried, its latest
    failure, and which are out (failed over from for good)."""

    __slots__ = ("_last", "_tries", "_usable", "entries")

    def __init__(self, entries: Sequence[ModelEntry]) -> None:
        self.entries = entries
        self._tries = [0] * len(entries)
        self._last: list[ProviderError | None] = [None] * len(entries)
        self._usable = [False] * len(entries)

    def next(self, attempts: int, larger_than: int, rand: Rand) -> tuple[ModelEntry, int] | None:
        """The deployment to try next and its try number (counted now), or None when every
        deployment is out or had ``attempts`` tries. Deployments whose known context window is
        at most ``larger_than`` tokens are out (a context-length error taught that much)."""
        entries, tries, usable = self.entries, self._tries, self._usable
        level = _OUT
        for i, entry in enumerate(entries):
            window = entry.context_window
            if window is not None and window <= larger_than:
                tries[i] = _OUT
            elif tries[i] < level:
                level = tries[i]
        if level >= attempts:
            return None
        # The least tried, those whose breaker would admit an attempt (inline: the hot path);
        # when none would, all the least tried.
        admitted = False
        for i, entry in enumerate(entries):
            ok = tries[i] == level and entry.breaker.would_allow()
            usable[i] = ok
            admitted = admitted or ok
        if not admitted:
            for i in range(len(entries)):
                usable[i] = tries[i] == level
        chosen = choose(entries, usable, rand)
        tries[chosen] += 1
        return entries[chosen], tries[chosen]

    def drop(self, entry: ModelEntry) -> None:
        """Never pick ``entry`` again in this walk."""
        for i, each in enumerate(self.entries):
            if each is entry:
                self._tries[i] = _OUT

    def failed(self, entry: ModelEntry, failure: ProviderError) -> None:
        """Note ``failure`` as ``entry``'s latest (what a retry of it backs off for)."""
        for i, each in enumerate(self.entries):
            if each is entry:
                self._last[i] = failure

    def last(self, entry: ModelEntry) -> ProviderError | None:
        """``entry``'s latest failure in this walk (None: none yet)."""
        for i, each in enumerate(self.entries):
            if each is entry:
                return self._last[i]
        return None

    def copy(self) -> Walk:
        """A walk in the same state that changes apart from this one (a hedge's undo)."""
        walk = Walk(self.entries)
        walk._tries[:] = self._tries
        walk._last[:] = self._last
        return walk


def explain(entries: Sequence[ModelEntry], rand: Rand) -> tuple[ModelEntry, str]:
    """The deployment a first attempt on the model whose usable deployments are ``entries``
    would use now, and why (what ``Route`` shows; weighted draws are random, so is the
    answer)."""
    usable = [True] * len(entries)
    if not _admitting(entries, usable):
        usable = [True] * len(entries)
    closed = [e for i, e in enumerate(entries) if not usable[i]]
    chosen = entries[choose(entries, usable, rand)]
    strategy = chosen.config.balancing
    shared = [e for i, e in enumerate(entries) if usable[i]]
    if len(shared) == 1:
        why = "the only one that can take the request now"
    elif strategy == "least_outstanding":
        why = (
            f"{chosen.outstanding} in flight at weight {chosen.weight:g}, the fewest per weight "
            f"of {len(shared)} (ties drawn by weight)"
        )
    elif strategy == "lowest_latency":
        latency = chosen.stats.merged_latency_s
        fastest = _fastest(entries, usable) or 1.0
        best = min(_expected_latency(e, fastest) for e in shared)
        expected = _expected_latency(chosen, fastest)
        buffer = chosen.config.latency_buffer
        measured = "not measured yet" if latency is None else f"{latency * 1000:.0f} ms"
        why = (
            f"EWMA latency {measured}, {chosen.outstanding} in flight: expects "
            f"{expected * 1000:.0f} ms, best {best * 1000:.0f} ms, buffer {buffer:.0%}: drawn "
            f"at {latency_factor(expected, best * (1 + buffer)):.0%} of its weight "
            f"({EXPLORE:.0%} of picks explore by weight alone)"
        )
    else:
        total = sum(e.weight for e in shared)
        why = f"drawn at random by weight: {chosen.weight:g} of {total:g}"
    return chosen, f"deployment {chosen.deployment} by {strategy}: {why}" + _passed(closed)


def _passed(closed: Sequence[ModelEntry]) -> str:
    """What ``Route`` says of the deployments not in the draw: their breaker's refusal in its
    actual state (open, or half-open with its probe in flight), or taking not this request (a
    capability, the window, a quota used up)."""
    if not closed:
        return ""
    parts = [f"{d.deployment} ({d.breaker.refusal() or 'cannot take it'})" for d in closed]
    return f"; passed over: {', '.join(parts)}"


def preview(decision: Decision, rand: Rand = random.random) -> Decision:
    """``decision`` with each candidate naming the deployment its first attempt would use now
    and why (``Candidate.deployment``, the reason appended): what ``Route`` shows. A model
    without deployments is left as it is."""
    candidates = []
    for candidate in decision.candidates:
        deployments = candidate.deployments
        if not deployments:
            candidates.append(candidate)
            continue
        chosen, why = explain(deployments, rand)
        # The model's deployments the decision already left out (policy, quotas).
        out = [d for d in candidate.entry.deployments if all(d is not u for u in deployments)]
        candidates.append(
            replace(
                candidate,
                deployment=chosen.deployment,
                reason=f"{candidate.reason}; {why}{_passed(out)}",
            )
        )
    return replace(decision, candidates=tuple(candidates))
