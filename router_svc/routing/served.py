"""What the failover engine hands back: a whole answer, or a stream's first and last events;
and the state one request's attempts share while it is served."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..chat import Completion, TokenUsage
from ..registry import ModelEntry
from .outcome import Attempt, RequestInfo
from .policy import Decision
from .schedule import Schedule

__all__ = ["Run", "Served", "StreamStarted", "StreamSummary"]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """Emitted once, before the first delta: the model whose output follows."""

    request_id: str
    entry: ModelEntry
    category: str
    create_time: float
    attempt_count: int
    fallback: bool
    trace_id: str = ""


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """The last event of a successful stream."""

    entry: ModelEntry
    finish_reason: str
    usage: TokenUsage
    cost_usd: float
    attempts: tuple[Attempt, ...]
    fallback: bool


# Not frozen: built for every request, and a frozen dataclass's __init__ costs ~4x (one
# object.__setattr__ per field). Nothing assigns to it after construction.
@dataclass(slots=True)
class Run:
    """One request being served: what its attempts share, the schedule that paces them and the
    record of each attempt made (reported to the caller)."""

    info: RequestInfo
    decision: Decision
    schedule: Schedule
    deadline: float  # monotonic
    attempts: list[Attempt] = field(default_factory=list)

    def fallback(self, entry: ModelEntry) -> bool:
        """Whether ``entry`` is not the decision's first choice: not its first candidate, or
        any candidate when the first choice was passed over for its open circuit."""
        return bool(self.decision.passed_over) or entry is not self.decision.candidates[0].entry
