"""The providers' own rate limits, kept by the router so it fails over before they answer 429.

A model's ``rpm`` / ``tpm`` (``[[router.models]]``) and a provider's (``[[router.providers]]``,
shared by all its models: an account-wide limit) are quotas counted across every router
replica in the ``[state]`` store (:mod:`llmrouter.rate_limits`). Each attempt reserves one
request and its estimated tokens (the prompt's estimate plus max_tokens, 256 when unset) just
before it is sent; a model whose quota is used up is passed over like a model whose circuit is
open (the next candidate is tried, the attempt after it is a fallback with reason
``MODEL_RATE_LIMITED``, the request span gets an ``llmrouter.rate_limit_reached`` event).
``Route`` lists such models as skipped (``SKIP_REASON_RATE_LIMIT``) without counting anything.
A deployment of a model (README, "Deployments") has a quota of its own (subject ``deployment``,
``model@deployment``): one at its quota hands the attempt to another deployment of the model.
Once an attempt reports its usage, its token reservation is corrected to it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from dataclasses import replace

from llmrouter.rate_limits import Charge, Quota, RateLimiter, Standing, duration_text
from llmrouter.token_estimate import DEFAULT_COMPLETION_TOKENS

from .chat import ChatRequest
from .registry import ModelEntry
from .routing.policy import Decision, Skip

__all__ = ["ModelQuotas", "Reservation", "describe", "reserved_tokens"]


def reserved_tokens(decision: Decision, request: ChatRequest) -> int:
    """What one attempt reserves of a tokens-per-minute quota: the prompt's estimate plus
    the request's output limit (256 when unset)."""
    return decision.estimated_prompt_tokens + (request.output_limit or DEFAULT_COMPLETION_TOKENS)


def describe(standing: Standing) -> str:
    """What is used up, for reasons and messages: ``model gpt-4o quota 3 RPM reached (3
    used; a slot frees in 12s)``."""
    charge = standing.charge
    kind, name = charge.subject
    what = f"{kind} {name} quota {standing.limit} {charge.quota.per}"
    if math.isinf(standing.retry_after_s):
        return f"{what} is smaller than this request ({charge.cost} tokens)"
    frees = duration_text(standing.retry_after_s)
    return f"{what} reached ({standing.used} used; room again in {frees})"


class Reservation:
    """The charges one attempt reserved; :meth:`settle` corrects its tokens to the usage."""

    def __init__(self, quotas: ModelQuotas, charges: tuple[Charge, ...]) -> None:
        self._quotas = quotas
        self.charges = charges

    def settle(self, used_tokens: int) -> None:
        """Correct the token charges to ``used_tokens`` (prompt plus completion), in the
        background."""
        for charge in self.charges:
            if charge.quota.kind == "tokens" and used_tokens != charge.cost:
                delta = used_tokens - charge.cost
                self._quotas.background(self._quotas.limiter.adjust(charge, delta))

    def give_back(self) -> None:
        """The attempt was not made after all: return every charge, in the background."""
        for charge in self.charges:
            self._quotas.background(self._quotas.limiter.adjust(charge, -charge.cost))


class ModelQuotas:
    """The quotas of every model and provider that has one, over one :class:`RateLimiter`."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        # Corrections in flight (kept referenced until done).
        self._tasks: set[asyncio.Task[None]] = set()
        self._quotas: dict[tuple[str, int], Quota] = {}

    def charges(self, entry: ModelEntry, tokens: int) -> tuple[Charge, ...]:
        """What one attempt on ``entry`` costs: its model's quotas, then its provider's."""
        charges: list[Charge] = []
        provider = entry.provider.config
        # A deployment's quota is its own (its provider's key or region), not its model's.
        own = ("deployment", entry.key) if entry.deployment else ("model", entry.name)
        for subject, rpm, tpm in (
            (own, entry.config.rpm, entry.config.tpm),
            (("provider", provider.name), provider.rpm, provider.tpm),
        ):
            if rpm > 0:
                charges.append(Charge(subject, self._quota("requests", rpm), 1))
            if tpm > 0:
                charges.append(Charge(subject, self._quota("tokens", tpm), tokens))
        return tuple(charges)

    def _quota(self, kind: str, limit: int) -> Quota:
        quota = self._quotas.get((kind, limit))
        if quota is None:
            quota = self._quotas[(kind, limit)] = Quota(kind, limit)
        return quota

    async def reserve(self, entry: ModelEntry, tokens: int) -> Reservation | Standing | None:
        """Reserve one attempt on ``entry`` of ``tokens`` tokens: the reservation, the standing
        of the quota that is used up, or None when the model has no quota."""
        charges = self.charges(entry, tokens)
        if not charges:
            return None
        verdict = await self.limiter.acquire(charges)
        if verdict.refused is not None:
            return verdict.refused
        return Reservation(self, charges)

    async def annotate(self, decision: Decision, tokens: int) -> Decision:
        """``decision`` with the candidates whose quota is used up now moved to its skipped
        models (reason RATE_LIMIT), counting nothing: what ``Route`` shows."""
        kept, skipped, changed = [], list(decision.skipped), False
        for candidate in decision.candidates:
            deployments = candidate.deployments or (candidate.entry,)
            room, full = [], None
            for deployment in deployments:
                charges = self.charges(deployment, tokens)
                used_up = await self.limiter.peek(charges) if charges else None
                if used_up is None:
                    room.append(deployment)
                elif full is None:
                    full = used_up
            if full is None:
                kept.append(candidate)
            elif room:  # the deployments with room take the model's attempts
                kept.append(replace(candidate, deployments=tuple(room)))
                changed = True
            else:
                skipped.append(Skip(candidate.entry.name, "RATE_LIMIT", describe(full)))
                changed = True
        if not changed:
            return decision
        return replace(decision, candidates=tuple(kept), skipped=tuple(skipped))

    def background(self, work: Awaitable[None]) -> None:
        """Run ``work`` without waiting for it."""

        async def run() -> None:
            await work

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
