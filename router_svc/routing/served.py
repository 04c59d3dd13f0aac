"""What the failover engine hands back: a whole answer, or a stream's first and last events;
and the state one request's attempts share while it is served."""

from __future__ import annotations

from dataclasses import field

from llmrouter.values import frozen

from ..chat import Completion, StreamEnd, TokenUsage
from ..registry import ModelEntry
from .outcome import Attempt, RequestInfo
from .policy import Decision
from .schedule import Schedule

__all__ = ["Run", "Served", "StreamStarted", "StreamSummary"]


@frozen
class Served:
    """A whole answer and how it was obtained."""

    request_id: str
    entry: ModelEntry
    completion: Completion
    cost_usd: float
    attempts: tuple[Attempt, ...]
    decision: Decision
    create_time: float
    fallback: bool
    trace_id: str = ""
    # The response cache's part: "hit" (replayed, no upstream call), "miss" (looked up, not
    # found), "" (not consulted).
    cache: str = ""


@frozen
class StreamStarted:
    """Emitted once, before the first delta: the model whose output follows."""

    request_id: str
    entry: ModelEntry
    category: str
    create_time: float
    attempt_count: int
    fallback: bool
    trace_id: str = ""
    # As Served.cache.
    cache: str = ""


@frozen
class StreamSummary:
    """The last event of a successful stream."""

    entry: ModelEntry
    finish_reason: str
    usage: TokenUsage
    cost_usd: float
    attempts: tuple[Attempt, ...]
    fallback: bool
    # The finishing upstream's service_tier and system_fingerprint ("" when it gave none).
    service_tier: str = ""
    system_fingerprint: str = ""

    @classmethod
    def ending(
        cls, run: Run, entry: ModelEntry, end: StreamEnd, usage: TokenUsage, cost_usd: float
    ) -> StreamSummary:
        """The summary of ``run`` served by ``entry``, whose stream ended with ``end``;
        ``usage`` and ``cost_usd`` are the whole answer's (continued parts included)."""
        return cls(
            entry=entry,
            finish_reason=end.finish_reason,
            usage=usage,
            cost_usd=cost_usd,
            attempts=tuple(run.attempts),
            fallback=run.fallback(entry),
            service_tier=end.service_tier,
            system_fingerprint=end.system_fingerprint,
        )


@frozen
class Run:
    """One request being served: what its attempts share, the schedule that paces them and the
    record of each attempt made (reported to the caller)."""

    info: RequestInfo
    decision: Decision
    schedule: Schedule
    deadline: float  # monotonic
    attempts: list[Attempt] = field(default_factory=list)

    def fallback(self, entry: ModelEntry) -> bool:
        """Whether ``entry`` is not the decision's first choice: not its first candidate's
        model (any deployment of it is), or any candidate when the first choice was passed
        over for its open circuit."""
        first = self.decision.candidates[0].entry
        return bool(self.decision.passed_over) or entry.name != first.name
