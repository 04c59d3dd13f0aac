"""The usage event: what one attempt used and how it ended (the router's record of usage)."""

from __future__ import annotations

from dataclasses import field

from llmrouter.values import frozen

__all__ = ["UsageEvent"]


@frozen
class UsageEvent:
    """What one attempt used and how it ended.

    Fields named like a ``llmrouter.v1.UsageRecord`` field are copied to it as they are
    (see :mod:`router_svc.usage.records`); the others are listed there, each with its reason.
    """

    request_id: str
    attempt: int
    time: float
    provider: str
    model: str
    category: str
    task_type: str
    source: str
    api_key_id: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    duration_s: float
    ttft_s: float | None
    status: str
    error_type: str
    fallback: bool
    fallback_from: str
    trace_id: str
    span_id: str = ""
    # The failure of the previous attempt that led to this one ("" for first attempts).
    fallback_reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    local: bool = False
    streamed: bool = False
    # The client's X-Request-Id: correlation only, never part of ``id``.
    client_request_id: str = ""
    # Parts of prompt_tokens read from / written to the provider's prompt cache, and the part
    # of completion_tokens spent reasoning (0 when the provider reports none).
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    # Some token count is the router's estimate, not the upstream's report (an attempt that
    # ended before its usage arrived: cancelled, a hedge's loser, a stream broken mid-answer;
    # an answer whose upstream reported a count unreadably or not at all).
    usage_estimated: bool = False
    # A response-cache hit (source "cache", cost 0): what the replayed answer cost when it was
    # served upstream, in USD; 0 for every other record.
    saved_cost_usd: float = 0.0
    # The gateway front door the request came through ("chat_completions", "messages", ...);
    # "" when the caller named none.
    front_door: str = ""
    # The API key's team (ChatRequest.team_id); "" when none.
    team_id: str = ""
    # The deployment of ``model`` the attempt went to (README, "Deployments"); "" for a model
    # configured without deployments. Its cost is at that deployment's prices.
    deployment: str = ""

    @property
    def id(self) -> str:
        """Unique record id: the router-generated request id and the attempt number."""
        return f"{self.request_id}:{self.attempt}"
