"""Continuing a stream that broke after its first token on another model.

When a stream stalls (no chunk within ``stream_idle_timeout_s``) or breaks after content was
relayed, the failover engine asks the decision's later candidates that can continue an answer
(:attr:`ModelEntry.can_continue`) to do so: each gets the text already relayed as an assistant
prefill and its output is relayed after it, so the client sees one answer, with one finish.
This module holds what that needs besides the relaying itself: the answer so far, the choice of
the next candidate, the seam between the two parts, and the final usage.

* Only text continues: an answer with a tool call in it ends with the interruption.
* Each attempt is its own usage record; a broken attempt's usage is estimated from what it
  relayed (its upstream billed it), and the final summary's usage and cost are the sums over
  the attempts that produced the answer.
* A candidate that fails before adding content (a 400 for the prefill, a timeout) is passed
  over; when none is left the client gets the original ``StreamInterrupted``, never the
  candidate's error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..chat import ChatRequest, StreamDelta, TokenUsage
from ..errors import ProviderError, StreamInterrupted
from ..registry import ModelEntry
from ..tokens import estimate_prompt_tokens
from .policy import Decision

__all__ = ["Answer", "Broken", "Seam", "continuers", "estimated_usage"]


@dataclass(slots=True)
class Answer:
    """A streamed answer as relayed to the client so far, across attempts."""

    # Text relayed, in order.
    parts: list[str] = field(default_factory=list)
    # A tool call was relayed: the answer cannot be continued.
    tool_calls: bool = False
    # StreamStarted was yielded (once per request).
    started: bool = False
    # Usage and cost of the attempts that contributed to the answer.
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float = 0.0
    # The interruption the client gets if no continuation succeeds.
    interrupted: StreamInterrupted | None = None

    @property
    def text(self) -> str:
        """The text relayed so far."""
        return "".join(self.parts)

    def add(self, delta: StreamDelta) -> None:
        """Note ``delta`` as relayed."""
        if delta.content:
            self.parts.append(delta.content)
        if delta.tool_calls:
            self.tool_calls = True

    def bill(self, usage: TokenUsage, cost_usd: float) -> None:
        """Add one attempt's usage to the answer's."""
        self.usage = TokenUsage(
            self.usage.prompt_tokens + usage.prompt_tokens,
            self.usage.completion_tokens + usage.completion_tokens,
        )
        self.cost_usd += cost_usd


@dataclass(frozen=True, slots=True)
class Broken:
    """A stream attempt broke after relaying content: ``error`` is what the client is told if
    nothing continues it, ``cause`` the attempt's own failure."""

    entry: ModelEntry
    error: StreamInterrupted
    cause: ProviderError


class Seam:
    """Joins a continuation to the text before it: when that text ends in whitespace, the
    continuation's leading whitespace is dropped (Anthropic refuses a prefill that ends in
    whitespace, so it gets the text without it and its continuation starts with it again)."""

    def __init__(self, before: str) -> None:
        self._open = bool(before) and before[-1].isspace()

    def join(self, delta: StreamDelta) -> StreamDelta | None:
        """``delta`` as it continues the text, or None when nothing of it is left."""
        if not self._open or delta.tool_calls:
            return delta
        content = delta.content.lstrip()
        if not content:
            return None
        self._open = False
        return StreamDelta(content=content)


def continuers(decision: Decision, after: ModelEntry) -> Iterator[ModelEntry]:
    """The decision's candidates after ``after`` that can continue an answer, in order."""
    entries = [candidate.entry for candidate in decision.candidates]
    start = next((i + 1 for i, entry in enumerate(entries) if entry is after), len(entries))
    for entry in entries[start:]:
        if entry.can_continue:
            yield entry


def estimated_usage(request: ChatRequest, prefill: str, relayed_chars: int) -> TokenUsage:
    """What a stream sent ``prefill`` that broke after relaying ``relayed_chars`` characters
    (text and tool arguments) used, as it sent no usage: the prompt estimate, and one token per
    four characters relayed."""
    prompt = estimate_prompt_tokens(request) + -(-len(prefill) // 4)
    return TokenUsage(prompt, -(-relayed_chars // 4))
