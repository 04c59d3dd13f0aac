"""The attempt schedule: which candidate to try next, when, and why.

The engine tells the schedule each failure explicitly (:meth:`Schedule.next`); the schedule
answers with the next attempt to make, or None when no attempt is worth making, and then says
why the request failed (:meth:`Schedule.give_up`).

* Only retryable failures retry or fail over; a context-length error skips to a candidate with
  a larger window; any other non-retryable failure ends the schedule.
* Retries of the same model back off with full jitter, honouring Retry-After up to a cap; an
  authentication failure, a timeout or a longer Retry-After fails over at once.
* One deadline: no attempt starts without ``min_attempt_s`` left after its backoff; a retry
  whose backoff (or Retry-After) would leave less fails over to the next model instead, which
  starts at once. The schedule ends only when less than ``min_attempt_s`` is left.
* Each model has its own retry budget (gRFC A6, scoped per upstream like Envoy's retry
  budgets): while most recent attempts on a model failed, *retries of that model* are refused
  and the request fails over at once. A first attempt on a model is never refused, so the
  budget never keeps a request from an untried model.
* A model with several deployments (README, "Deployments") is walked deployment by
  deployment (:class:`.balance.Walk`): each deployment is an upstream of its own, with its own
  breaker, retry budget, quota and ``attempts_per_model`` tries. A failed (or refused, or
  ratelimited) deployment hands the next attempt to another deployment of the model, at once;
  a deployment is retried only after every other was tried as often; only when every
  deployment is spent does the chain move to the next model. Moving between deployments of a
  model is no fallback (the model is the same); the usage records name each deployment.
* A candidate whose circuit is open is skipped, and counts as the reason for the next attempt,
  which is a fallback from it (``BREAKER_OPEN``); so is a model the decision passed over for
  its open circuit (``passed_over``) for the request's first attempt.
* Budgets ([[router.budgets]]): before each attempt its worst-case cost is reserved against
  the request's key and team budgets; a model that does not fit is passed over (a cheaper one
  later in the chain may fit), and a request no model fits fails with ``BudgetExceeded``.
* A request fails only when no candidate is left; its error names each model's outcome, then
  the decision's models that were never candidates and why ("; not tried: c: disabled ...").
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from llmrouter.values import frozen

from ..breaker import BreakerState
from ..budgets import Budgets, Hold, Refusal
from ..chat import ChatRequest
from ..errors import (
    AllCandidatesFailed,
    AllCandidatesOutOfQuota,
    AllCandidatesRateLimited,
    AuthFailed,
    BreakerOpen,
    BudgetExceeded,
    ContextLengthExceeded,
    DeadlineExceeded,
    InvalidRequest,
    ModelRateLimited,
    NoCandidates,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    RouterError,
    UpstreamTimeout,
)
from ..policies import RetryPolicy
from ..quotas import ModelQuotas, Reservation, describe
from ..registry import ModelEntry, Registry
from ..telemetry import rate_limit_reached
from .balance import Walk
from .policy import Candidate, Decision, Skip
from .retry import RetryBudgets, backoff_delay

__all__ = ["HEDGE", "Pacing", "Planned", "Schedule", "Timing", "refusal"]

# The fallback reason of a hedge (see .hedge): started beside a late attempt, not after a failure.
HEDGE = "HEDGE"

# Retry delay suggested to a failed request whose retries a budget refused (no better hint).
_BUDGET_RETRY_AFTER_S = 1.0
# Failures after which the same model is not tried again: the same key would be rejected
# again; a timeout already cost the caller a whole wait, a second one would double it.
_FAIL_OVER_AT_ONCE = (AuthFailed, UpstreamTimeout)
# What give_up says of a model whose retries its budget refused.
_BUDGET_SPENT = "retry budget spent"
# What give_up says of a model whose retry would have had to wait past the deadline.
_WAIT_TOO_LONG = "retry wait past the deadline"


@dataclass(frozen=True, slots=True)
class Timing:
    """The clocks, sleep and randomness the engine runs on (injected so tests can drive them)."""

    # Monotonic seconds: deadlines, durations.
    clock: Callable[[], float]
    # Wall-clock seconds since the epoch: timestamps of usage records and health.
    wall_clock: Callable[[], float]
    # Waits out a backoff.
    sleep: Callable[[float], Awaitable[None]]
    # Uniform in [0, 1): backoff jitter.
    rand: Callable[[], float]


@dataclass(frozen=True, slots=True)
class Pacing:
    """The process-wide rules every request's schedule follows."""

    # Attempts per model, backoff, timeouts.
    retry: RetryPolicy
    # Per model, shared by all requests: refuse retries of a model while most of its recent
    # attempts failed.
    budgets: RetryBudgets
    timing: Timing
    # The models' and providers' rpm / tpm quotas (None: no model has one).
    quotas: ModelQuotas | None = None
    # The key and team budgets in USD (None: no budget is configured).
    spend: Budgets | None = None


@frozen
class Planned:
    """The next attempt to make: which model, after what wait, and why."""

    entry: ModelEntry
    # 1-based among the attempts actually made for the request.
    number: int
    # Seconds already waited before this attempt.
    backoff_s: float
    # The model's breaker state when the attempt was allowed ("closed", "half_open").
    breaker_state: str
    # The failure that led to this attempt (None for a request's first attempt).
    previous: ProviderError | None
    # The model of the attempt just before this one, or the model skipped just before it
    # because its circuit was open ("" for a request's first attempt on its first choice).
    previous_model: str
    # A hedge: started beside the attempt before it, which was late (see .hedge).
    hedge: bool = False
    # What the attempt reserved of its model's and provider's quotas (None: they have none).
    reservation: Reservation | None = None
    # What the attempt reserved of its key's and team's budgets (None: they have none).
    hold: Hold | None = None

    @property
    def fallback_reason(self) -> str:
        """Why the previous attempt did not answer ("" for a request's first attempt;
        HEDGE for a hedge)."""
        if self.hedge:
            return HEDGE
        return self.previous.reason if self.previous is not None else ""

    @property
    def retry_after_s(self) -> float | None:
        """The Retry-After hint of the failure that led here."""
        return self.previous.retry_after if self.previous is not None else None

    @property
    def fallback(self) -> bool:
        """Whether this attempt moves the request to another model than its previous attempt's
        (a retry of the same model is not a fallback; a request's first attempt neither)."""
        return bool(self.previous_model) and self.entry.name != self.previous_model

    @property
    def fallback_from(self) -> str:
        """The model the request fell back from, when this attempt is a fallback; else ""."""
        return self.previous_model if self.fallback else ""


class Schedule:
    """Walks a decision's candidates for one request; each failure is passed in explicitly."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        deadline: float,
        pacing: Pacing,
        *,
        passed_over: str = "",
        skipped: Sequence[Skip] = (),
        tokens: int = 0,
        request: ChatRequest | None = None,
        prompt_tokens: int = 0,
    ) -> None:
        """``passed_over``: the decision's model skipped for its open circuit ahead of
        ``candidates`` (:attr:`Decision.passed_over`); the first attempt falls back from it.
        ``skipped``: the decision's models that are no candidates, named by :meth:`give_up`.
        ``tokens``: what each attempt reserves of a tokens-per-minute quota. ``request`` and
        ``prompt_tokens`` (its estimate): what budgets reserve for (None: no budget check)."""
        self._candidates = list(candidates)
        self._skipped = skipped
        self._at = 0  # index in ``_candidates`` of the next candidate to consider
        self._deadline = deadline
        self._retry = pacing.retry
        self._budgets = pacing.budgets
        self._timing = pacing.timing
        self._quotas = pacing.quotas
        self._tokens = tokens
        self._spend = pacing.spend if request is not None else None
        self._request = request
        self._prompt_tokens = prompt_tokens
        # The budgets that refused a model, in order.
        self._refusals: list[Refusal] = []
        # Seconds until each model passed over for its quota has room again.
        self._quota_waits: list[float] = []
        self._entry: ModelEntry | None = None  # the deployment being tried
        self._tries = 0  # tries of ``_entry`` so far (made or refused by its breaker)
        # The walk over the current candidate's deployments (None: it has one deployment).
        self._walk: Walk | None = None
        self._larger_than = -1  # after a context-length error, only larger windows are worth it
        self._models: list[str] = []  # the model of each attempt made, in order
        self._keys: list[str] = []  # the deployment (ModelEntry.key) of each attempt made
        # Each failed attempt's model and error, for give_up.
        self._failures: list[tuple[str, ProviderError]] = []
        self._last: ProviderError | None = None  # the latest failure, breaker refusals included
        # The model whose breaker refused it since the latest attempt was planned ("" if none):
        # the next attempt falls back from it.
        self._refused = passed_over
        if passed_over:
            self._last = BreakerOpen(f"{passed_over}: circuit open")
        # Models passed over without an attempt, or whose retries were refused, and why.
        self._passed: list[tuple[str, str]] = []
        self._done = False

    async def next(self, failure: ProviderError | None = None) -> Planned | None:
        """The attempt to make after ``failure`` of the previous one (None before the first).

        Waits out the backoff before returning. None: nothing left worth trying (then
        :meth:`give_up` says why).
        """
        if failure is not None:
            self._failed(failure)
        attempts = self._retry.attempts_per_model
        while not self._done:
            walk = self._walk
            if walk is not None:
                picked = walk.next(attempts, self._larger_than, self._timing.rand)
                if picked is None:  # every deployment of the model is spent: the chain goes on
                    self._walk = self._entry = None
                    continue
                self._entry, self._tries = picked
            elif self._entry is None or self._tries >= attempts:
                candidate = self._next_candidate()
                if candidate is None:
                    self._entry = None
                    self._done = True
                    break
                if len(candidate.deployments) > 1:
                    self._walk = Walk(candidate.deployments)
                    continue
                self._entry = candidate.deployments[0] if candidate.deployments else candidate.entry
                self._tries = 1
            else:
                self._tries += 1
            planned = await self._try(self._entry, self._tries)
            if planned is not None:
                return planned
        return None

    def _failed(self, failure: ProviderError) -> None:
        self._last = failure
        self._failures.append((self._keys[-1], failure))
        if self._walk is not None and self._entry is not None:
            self._walk.failed(self._entry, failure)
        if isinstance(failure, ContextLengthExceeded):
            assert self._entry is not None
            # A window we know is one no model at most as large will fit; an unknown one
            # teaches nothing about the others' (whose upstreams then decide).
            window = self._entry.context_window
            if window is not None:
                self._larger_than = max(self._larger_than, window)
            self._drop()
        elif not failure.retryable:
            self._done = True

    def _drop(self) -> None:
        """Move on from the deployment being tried: to another deployment of its model, else
        to the next candidate."""
        if self._walk is not None and self._entry is not None:
            self._walk.drop(self._entry)
        self._entry = None

    def _next_candidate(self) -> Candidate | None:
        while self._at < len(self._candidates):
            candidate = self._candidates[self._at]
            self._at += 1
            if len(candidate.deployments) > 1:
                return candidate  # its walk leaves out the deployments too small
            window = candidate.entry.context_window
            # An unknown window may be larger: its upstream says whether the request fits.
            if window is None or window > self._larger_than:
                return candidate
        return None

    async def _try(self, entry: ModelEntry, try_number: int) -> Planned | None:
        """Plan try ``try_number`` of ``entry``; None moves on (``_entry`` or ``_done`` set)."""
        backoff = 0.0
        previous = self._last
        if try_number > 1:
            # A retry: of this deployment after its own failure (another deployment of the
            # model may have failed since, for reasons of its own).
            own = (self._walk.last(entry) if self._walk is not None else None) or previous
            assert own is not None
            if isinstance(own, _FAIL_OVER_AT_ONCE):
                self._drop()
                return None
            if not self._budgets.of(entry.key).allows_retry():
                # The deployment's own budget is spent: fail over now, never fail the request.
                self._passed.append((entry.key, _BUDGET_SPENT))
                self._drop()
                return None
            delay = backoff_delay(self._retry, try_number - 1, own.retry_after, self._timing.rand)
            if delay is None:
                self._drop()  # told to wait longer than we are willing to: fail over
                return None
            backoff = delay
        left = self._deadline - self._timing.clock()
        if left < self._retry.min_attempt_s:
            self._done = True  # no attempt of any model fits any more
            return None
        if left < backoff + self._retry.min_attempt_s:
            # This retry's wait would outlast the deadline; another model needs no wait.
            self._passed.append((entry.key, _WAIT_TOO_LONG))
            self._drop()
            return None
        if backoff:
            await self._timing.sleep(backoff)
        held = await self.budget_hold(entry)
        if isinstance(held, Refusal):  # over budget on this model: a cheaper one may fit
            self._passed.append((entry.key, held.describe()))
            self._refusals.append(held)
            self._drop()
            return None
        hold = held
        reservation = None
        if self._quotas is not None:
            reserved = await self._quotas.reserve(entry, self._tokens)
            if isinstance(reserved, Reservation):
                reservation = reserved
            elif reserved is not None:  # a quota is used up: pass over, as for an open circuit
                if hold is not None:
                    hold.give_back()
                wait = reserved.retry_after_s
                self._last = ModelRateLimited(
                    f"{entry.key}: {describe(reserved)}",
                    retry_after=wait if math.isfinite(wait) else None,
                )
                self._passed.append((entry.key, describe(reserved)))
                self._quota_waits.append(wait)
                rate_limit_reached(entry.key, reserved)
                self._refused = entry.name
                self._drop()
                return None
        state = entry.breaker.state.value
        if not entry.breaker.allow():
            if reservation is not None:
                reservation.give_back()
            if hold is not None:
                hold.give_back()
            self._last = BreakerOpen(
                # In the breaker's actual state: open, or half-open with its probe in flight.
                f"{entry.key}: {entry.breaker.refusal() or 'circuit open'}",
                retry_after=entry.breaker.retry_after(),
            )
            self._passed.append((entry.key, BreakerOpen.reason))
            self._refused = entry.name
            self._drop()
            return None
        planned = Planned(
            entry=entry,
            number=len(self._models) + 1,
            backoff_s=backoff,
            breaker_state=state,
            previous=previous,
            previous_model=self._refused or (self._models[-1] if self._models else ""),
            reservation=reservation,
            hold=hold,
        )
        self._refused = ""
        self._models.append(entry.name)
        self._keys.append(entry.key)
        return planned

    async def budget_hold(self, entry: ModelEntry) -> Hold | Refusal | None:
        """Reserve one attempt of the request on ``entry`` against its key's and team's
        budgets (every attempt that reaches a provider: the schedule's, and a stream's
        continuations): the hold, the budget it does not fit, or None when none applies."""
        if self._spend is None:
            return None
        assert self._request is not None
        return await self._spend.reserve(entry, self._request, self._prompt_tokens)

    async def hedge(self) -> Planned | None:
        """A hedge for the attempt in flight (see :mod:`.hedge`): the next candidate, which is
        another deployment of the model when one is left, else another model, at once, as a
        failover would pick it (breakers, the deadline; a first attempt on it, so no retry
        budget applies).

        None when no other model may start now; the schedule is then left as it was (the
        candidates it passed over, e.g. with an open breaker, stay for later failovers), so the
        attempt in flight keeps its retries. After a hedge the schedule goes on from the
        hedge's model: a late model is not retried.
        """
        saved = (self._entry, self._tries, self._last, self._done, self._at, self._refused)
        walk = self._walk.copy() if self._walk is not None else None
        passed, waits = len(self._passed), len(self._quota_waits)
        refusals = len(self._refusals)
        late = self._models[-1] if self._models else ""
        self._drop()  # another deployment of the model, else the next model
        planned = await self.next()
        if planned is None:
            self._entry, self._tries, self._last, self._done, self._at, self._refused = saved
            self._walk = walk
            del self._passed[passed:]
            del self._quota_waits[waits:]
            del self._refusals[refusals:]
            return None
        # From the late model, even when a model with an open circuit was skipped between.
        return replace(planned, hedge=True, previous_model=late)

    def failed_beside(self, model: str, failure: ProviderError) -> None:
        """Note ``failure`` of the attempt on ``model`` that a hedge ran beside, for
        :meth:`give_up`; the hedge's own failure is passed to :meth:`next` as usual."""
        self._failures.append((model, failure))

    def give_up(self) -> RouterError:
        """Why the request failed, once :meth:`next` returned None: every attempt's failure
        and every model passed over, each with its model's name."""
        outcomes = [(model, error.reason) for model, error in self._failures] + self._passed
        tried = ", ".join(f"{model}: {why}" for model, why in outcomes) or "none"
        if self._skipped:
            # The fallbacks a reader would expect to have been tried, and why they were not.
            tried += "; not tried: " + ", ".join(f"{s.model}: {s.detail}" for s in self._skipped)
        made = len(self._models)
        last = self._last
        if isinstance(last, ContextLengthExceeded):
            return last
        if not made and self._refusals and len(self._refusals) == len(self._passed):
            return _over_budget(self._refusals)
        if self._deadline - self._timing.clock() < self._retry.min_attempt_s:
            return DeadlineExceeded(f"deadline exceeded after {made} attempts ({tried})")
        waits = [w for w in self._quota_waits if math.isfinite(w)]
        if not made and waits and len(self._quota_waits) == len(self._passed):
            # Every model is at its provider's limit: the caller should slow down (429).
            return AllCandidatesRateLimited(
                f"every model is at its rate limit ({tried})", retry_after=min(waits)
            )
        if isinstance(last, BreakerOpen | ModelRateLimited) and not made:
            return NoCandidates(f"no model could be tried ({tried})", retry_after=last.retry_after)
        if made and all(error.reason == RateLimited.reason for _, error in self._failures):
            hints = [e.retry_after for _, e in self._failures if e.retry_after is not None]
            hints += waits
            return AllCandidatesRateLimited(
                f"every model is rate limited ({tried})", retry_after=min(hints) if hints else None
            )
        if made and all(isinstance(error, QuotaExhausted) for _, error in self._failures):
            # A billing state, not a rate limit: no Retry-After would be honest.
            return AllCandidatesOutOfQuota(f"every model's quota or credit is exhausted ({tried})")
        hint = last.retry_after if last else None
        if hint is None and any(why == _BUDGET_SPENT for _, why in self._passed):
            hint = _BUDGET_RETRY_AFTER_S
        return AllCandidatesFailed(f"all {made} attempts failed ({tried})", retry_after=hint)


def _over_budget(refusals: list[Refusal]) -> BudgetExceeded:
    """The error of a request every model of whose chain a budget refused: names the budget
    that refused the cheapest model (the one that came closest); Retry-After is the end of
    that budget's period (none for a rolling window)."""
    closest = min(refusals, key=lambda r: r.needed_usd)
    return BudgetExceeded(
        f"This request would exceed {closest.describe()}.",
        retry_after=closest.retry_after_s,
        metadata={"budget": closest.rule.id},
    )


def _which(decision: Decision) -> str:
    """The models a refusal is about, as a reader knows them: the model the request named (and
    its fallbacks), or the category the request was routed to."""
    if decision.category_source == "explicit_model":
        return "no model the request named"
    return f"no model of category {decision.category!r}"


def refusal(decision: Decision, registry: Registry) -> RouterError:
    """Why a decision without candidates cannot be served: the request, or the models' state."""
    reasons = "; ".join(f"{s.model}: {s.detail}" for s in decision.skipped)
    kinds = {s.reason for s in decision.skipped}
    if kinds and kinds <= {"CONTEXT_WINDOW", "MISSING_CAPABILITY"}:
        # The request itself is what no model can take: retrying cannot help.
        refused = ContextLengthExceeded if "CONTEXT_WINDOW" in kinds else InvalidRequest
        # One field every model refused is the field to name (a 400 naming it at the gateway).
        fields = {s.field for s in decision.skipped}
        field = f"chat.{fields.pop()}" if len(fields) == 1 and "" not in fields else ""
        return refused(f"{_which(decision)} can take this request ({reasons})", field=field)
    waits = [
        d.breaker.retry_after()
        for s in decision.skipped
        if s.reason == "BREAKER_OPEN" and (e := registry.get(s.model))
        for d in e.deployments or (e,)
        if d.breaker.state is BreakerState.OPEN
    ]
    return NoCandidates(
        f"{_which(decision)} can serve this request" + (f" ({reasons})" if reasons else ""),
        retry_after=min(waits) if waits else None,
    )
