"""Per-API-key rate limits on chat completions, messages and embeddings: requests and tokens
per minute, one limit across every gateway replica (counted in the ``[state]`` store by
:mod:`llmrouter.rate_limits`).

A request over a limit gets OpenAI's answer to the same: 429, ``{"error": {"type":
"requests" | "tokens", "code": "rate_limit_exceeded", ...}}``, ``Retry-After`` and the
``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` headers (OpenAI's guide "Rate limits",
section "Rate limits in headers"; resets written as ``1s``, ``6m0s``, ``20ms``). Admitted
answers carry the same x-ratelimit headers.

Tokens are reserved up front, as OpenAI counts them: the prompt's estimate (four characters a
token, :mod:`llmrouter.token_estimate`) plus the request's max_tokens (256 when unset); an
embeddings request's, its inputs' estimate (it has no output). When
the answer reports its usage, the reservation is corrected to it (both ways); a failed
request keeps its reservation.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.config import GatewayConfig
from gateway.errors import GatewayError
from llmrouter.rate_limits import KINDS, Charge, Quota, RateLimiter, Standing, duration_text
from llmrouter.token_estimate import DEFAULT_COMPLETION_TOKENS, estimate_prompt
from llmrouter.v1 import chat_pb2

__all__ = ["Admission", "KeyLimits", "RateLimitExceeded", "estimated_tokens"]

log = logging.getLogger(__name__)

# The counters' subject of requests made with auth off (no key): all local callers together.
_LOCAL = ("local",)


class RateLimitExceeded(GatewayError):
    """429: the key's requests or tokens per minute are used up (or, for tokens, the request
    alone is larger than the limit: then retrying cannot help, and no Retry-After is sent)."""

    default_status = 429

    def __init__(self, refused: Standing, standings: tuple[Standing, ...], who: str) -> None:
        quota, cost, limit = refused.charge.quota, refused.charge.cost, refused.limit
        kind_per = f"{quota.kind} per min ({quota.per})" if quota.window_s == 60 else quota.per
        never = math.isinf(refused.retry_after_s)
        if never:
            message = (
                f"Request too large for {who} on {kind_per}: Limit {limit}, Requested "
                f"{cost}. The input or output tokens must be reduced in order to run "
                "successfully."
            )
        else:
            message = (
                f"Rate limit reached for {who} on {kind_per}: Limit {limit}, Used "
                f"{refused.used}, Requested {cost}. Please try again in "
                f"{duration_text(refused.retry_after_s)}."
            )
        super().__init__(
            message,
            code="rate_limit_exceeded",
            error_type=quota.kind,
            retry_after=None if never else max(1, math.ceil(refused.retry_after_s)),
            should_retry=False if never else None,
        )
        self.standings = standings

    def headers(self) -> dict[str, str]:
        """``Retry-After`` (unless retrying cannot help) and the x-ratelimit headers."""
        return {**super().headers(), **_headers(self.standings)}


# Per kind, the names of its x-ratelimit headers: limit, remaining, reset.
_NAMES = {
    kind: tuple(f"x-ratelimit-{name}-{kind}" for name in ("limit", "remaining", "reset"))
    for kind in KINDS
}


def _headers(standings: tuple[Standing, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for standing in standings:
        limit, remaining, reset = _NAMES[standing.charge.quota.kind]
        headers[limit] = str(standing.limit)
        headers[remaining] = str(standing.remaining)
        headers[reset] = duration_text(standing.reset_s)
    return headers


def estimated_tokens(chat: chat_pb2.ChatRequest) -> int:
    """Tokens ``chat`` may use: its prompt's estimate (messages, tool calls, tool schemas; the
    router's rule) plus max_completion_tokens, else max_tokens, else 256."""
    if chat.HasField("max_completion_tokens"):
        completion = chat.max_completion_tokens
    elif chat.HasField("max_tokens"):
        completion = chat.max_tokens
    else:
        completion = DEFAULT_COMPLETION_TOKENS
    return estimate_prompt(chat.messages, chat.tools, _parts) + max(completion, 0)


def _parts(message: chat_pb2.Message) -> Iterable[chat_pb2.ContentPart]:
    return message.content_parts


@dataclass(frozen=True, slots=True)
class _KeyQuotas:
    # The counters' subject: ("key", id), or _LOCAL with auth off.
    subject: tuple[str, ...]
    # A request's charge against the rpm (the same every time: built once), and the tpm.
    requests: Charge | None
    tokens: Quota | None


class Admission:
    """An admitted request's charges: its x-ratelimit headers, and the correction of its
    token reservation once the usage is known."""

    __slots__ = ("_limiter", "_standings", "_tasks", "_tokens")

    def __init__(
        self,
        limiter: RateLimiter,
        standings: tuple[Standing, ...],
        tokens: Charge | None,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        self._limiter = limiter
        self._standings = standings
        self._tokens = tokens
        self._tasks = tasks

    def headers(self) -> dict[str, str]:
        """The x-ratelimit headers as the request left its limits (counted)."""
        return _headers(self._standings)

    def settle(self, used_tokens: int) -> None:
        """Correct the token reservation to ``used_tokens`` (prompt plus completion, as the
        answer reports them), in the background."""
        if self._tokens is None:
            return
        # A lease absorbs most corrections at once; only the rest needs the store.
        delta = self._limiter.absorb(self._tokens, used_tokens - self._tokens.cost)
        if delta:
            task = asyncio.create_task(self._limiter.adjust(self._tokens, delta))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


class KeyLimits:
    """The rpm and tpm of every configured key (their own, else the gateway's defaults)."""

    def __init__(self, config: GatewayConfig, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self._rpm, self._tpm = config.rate_limit_rpm, config.rate_limit_tpm
        self._default = _quotas(_LOCAL, config.rate_limit_rpm, config.rate_limit_tpm)
        self._by_key = {
            key.id: _quotas(
                ("key", key.id),
                config.rate_limit_rpm if key.rpm is None else key.rpm,
                config.rate_limit_tpm if key.tpm is None else key.tpm,
            )
            for key in config.api_keys
        }
        self.enabled = any(q.requests or q.tokens for q in (self._default, *self._by_key.values()))
        # Token corrections in flight (kept referenced until done).
        self._tasks: set[asyncio.Task[None]] = set()

    async def admit(
        self,
        api_key_id: str | None,
        chat: chat_pb2.ChatRequest,
        own: tuple[int | None, int | None] = (None, None),
    ) -> Admission | None:
        """Count the request against its key's limits; None when the key has none.

        ``own``: a virtual key's rpm and tpm (None each: the gateway's default). Raises
        :class:`RateLimitExceeded` when a limit is used up. Never fails because the store does
        not answer (the limiter then counts this replica's share).
        """
        quotas = self._quotas_of(api_key_id, own)
        tokens = None
        if quotas.tokens is not None:
            tokens = Charge(quotas.subject, quotas.tokens, estimated_tokens(chat))
        return await self._admit(api_key_id, quotas, tokens)

    async def admit_tokens(
        self,
        api_key_id: str | None,
        tokens: Callable[[], int],
        own: tuple[int | None, int | None] = (None, None),
    ) -> Admission | None:
        """As :meth:`admit`, for a request whose tokens are ``tokens()`` (asked only when the
        key has a tokens-per-minute limit): an embeddings request's input tokens."""
        quotas = self._quotas_of(api_key_id, own)
        charge = None
        if quotas.tokens is not None:
            charge = Charge(quotas.subject, quotas.tokens, tokens())
        return await self._admit(api_key_id, quotas, charge)

    def _quotas_of(self, api_key_id: str | None, own: tuple[int | None, int | None]) -> _KeyQuotas:
        """The limits of ``api_key_id``: a virtual key's ``own``, else its config entry's,
        else the gateway's defaults."""
        if api_key_id and own != (None, None):
            rpm, tpm = own
            return self._virtual(
                api_key_id, self._rpm if rpm is None else rpm, self._tpm if tpm is None else tpm
            )
        return self._by_key.get(api_key_id, self._default) if api_key_id else self._default

    async def _admit(
        self, api_key_id: str | None, quotas: _KeyQuotas, tokens: Charge | None
    ) -> Admission | None:
        requests = quotas.requests
        if tokens is not None:
            charges: tuple[Charge, ...] = (tokens,) if requests is None else (requests, tokens)
        elif requests is not None:
            charges = (requests,)
        else:
            return None
        # Most requests under a large limit spend this replica's lease: no round trip.
        leased = self._limiter.take(charges)
        if leased is not None:
            return Admission(self._limiter, leased, tokens, self._tasks)
        verdict = await self._limiter.acquire(charges)
        if verdict.refused is not None:
            who = f"API key '{api_key_id}'" if api_key_id else "this gateway's local callers"
            raise RateLimitExceeded(verdict.refused, verdict.standings, who)
        return Admission(self._limiter, verdict.standings, tokens, self._tasks)

    @staticmethod
    @functools.lru_cache(maxsize=1024)
    def _virtual(api_key_id: str, rpm: int, tpm: int) -> _KeyQuotas:
        """Quotas of a virtual key's own limits (kept: the same few keys on every request)."""
        return _quotas(("key", api_key_id), rpm, tpm)


def _quotas(subject: tuple[str, ...], rpm: int, tpm: int) -> _KeyQuotas:
    return _KeyQuotas(
        subject,
        Charge(subject, Quota("requests", rpm), 1) if rpm > 0 else None,
        Quota("tokens", tpm) if tpm > 0 else None,
    )
