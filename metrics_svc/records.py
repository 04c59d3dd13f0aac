"""The ledger's unit: one attempt against one model, as a plain value (no protobuf types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["FeedbackScale", "UsageRow", "UsageStatus"]


class UsageStatus(StrEnum):
    """Outcome of an attempt; the values are what the database stores."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FeedbackScale(StrEnum):
    """How a score was given (``llmrouter.v1.FeedbackScale``); the values are what the
    database stores."""

    #: Up (1) or down (0).
    THUMBS = "thumbs"
    #: 1 to 5 stars: (stars - 1) / 4.
    STARS = "stars"
    #: A number in [0, 1], as is.
    FRACTION = "fraction"


# Not frozen: every ingested record builds one, and a frozen dataclass's __init__ (one
# object.__setattr__ call per field) took 5 us against 1.8 us; nothing mutates rows.
@dataclass(slots=True)
class UsageRow:
    """One usage record as stored; ``id`` is ``"<request_id>:<attempt>"`` and unique.

    One field per ``usage_records`` column, of the same name (:mod:`metrics_svc.tables`).

    ``request_id`` is the router's; ``client_request_id`` is the client's own id, a correlation
    label that many rows may share.
    """

    id: str
    request_id: str
    attempt: int
    #: Timezone-aware; stored and returned in UTC.
    time: datetime
    provider: str
    model: str
    status: UsageStatus
    category: str = ""
    task_type: str = ""
    source: str = ""
    api_key_id: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    duration_ms: float = 0.0
    #: Time to first token; None when the attempt produced no token or was not streamed.
    ttft_ms: float | None = None
    error_type: str = ""
    fallback: bool = False
    fallback_from: str = ""
    trace_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    local: bool = False
    streamed: bool = False
    client_request_id: str = ""
    #: Why this attempt ran instead of the one before (``RATE_LIMITED``, ``HEDGE``,
    #: ``BREAKER_OPEN``...); ``""`` on first attempts and on rows from before revision 0004.
    fallback_reason: str = ""
    #: Parts of ``prompt_tokens`` read from / written to the provider's prompt cache, and the
    #: part of ``completion_tokens`` spent reasoning; 0 when unknown and on rows from before
    #: revision 0005.
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: Some token count (and so the cost) is the router's estimate, not the upstream's report
    #: (an attempt that ended before its usage arrived); False on rows from before revision 0006.
    usage_estimated: bool = False
    #: A response-cache hit (source ``cache``, cost 0): what its answer cost when served
    #: upstream, in USD; 0 otherwise and on rows from before revision 0007.
    saved_cost_usd: float = 0.0
    #: The gateway front door the request came through (``chat_completions``, ``messages``,
    #: ...); ``""`` when the caller named none and on rows from before revision 0009.
    front_door: str = ""
    #: Team of the API key (``Caller.team_id``); "" when it has none and on rows from before
    #: revision 0008.
    team_id: str = ""
    #: The deployment of ``model`` that served the attempt (README, "Deployments"); "" for a
    #: model without deployments and on rows from before revision 0010.
    deployment: str = ""
