"""A stored answer: what a hit replays, as a whole answer or as a stream, and its JSON form."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from llmrouter.values import frozen

from ..chat import Completion, StreamDelta, TokenUsage, ToolCall, ToolCallDelta

__all__ = ["CACHEABLE_FINISHES", "CachedAnswer", "StreamRecorder"]

# Only answers that ended on their own: "length" is truncated and "content_filter" cut short
# (or refused by a filter a retry may pass); neither is replayed to the next caller.
CACHEABLE_FINISHES = frozenset({"stop", "tool_calls"})


@frozen
class CachedAnswer:
    """A complete answer as served upstream: the model that gave it and what it cost.

    ``cost_usd`` is what the upstream call(s) cost then (the saving of every hit);
    ``usage`` the token counts reported then (replayed to the client, never billed again).
    """

    model: str
    provider: str
    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: TokenUsage
    cost_usd: float
    refusal: str = ""
    reasoning_content: str = ""
    service_tier: str = ""
    system_fingerprint: str = ""
    upstream_model: str = ""

    @property
    def cacheable(self) -> bool:
        """True for an answer worth replaying: it finished by itself (stop or tool_calls),
        a tool_calls finish holds its calls, and it says something."""
        if self.finish_reason not in CACHEABLE_FINISHES:
            return False
        if self.finish_reason == "tool_calls":
            return bool(self.tool_calls)
        return bool(self.content or self.tool_calls or self.refusal)

    @classmethod
    def of(cls, model: str, provider: str, completion: Completion, cost_usd: float) -> CachedAnswer:
        """A whole answer served by ``model`` of ``provider``."""
        return cls(
            model=model,
            provider=provider,
            content=completion.content,
            tool_calls=completion.tool_calls,
            finish_reason=completion.finish_reason,
            usage=completion.usage,
            cost_usd=cost_usd,
            refusal=completion.refusal,
            reasoning_content=completion.reasoning_content,
            service_tier=completion.service_tier,
            system_fingerprint=completion.system_fingerprint,
            upstream_model=completion.upstream_model,
        )

    def completion(self) -> Completion:
        """The answer as a whole answer (no log probabilities: requests asking for them are
        never cached)."""
        return Completion(
            content=self.content,
            tool_calls=self.tool_calls,
            finish_reason=self.finish_reason,  # type: ignore[arg-type]  # checked on decode
            usage=self.usage,
            upstream_model=self.upstream_model,
            refusal=self.refusal,
            service_tier=self.service_tier,
            system_fingerprint=self.system_fingerprint,
            reasoning_content=self.reasoning_content,
        )

    def deltas(self) -> list[StreamDelta]:
        """The answer as stream deltas: reasoning, then content, refusal and tool calls, each
        in one delta (what a client sees is the same text, sooner)."""
        tier, fingerprint = self.service_tier, self.system_fingerprint
        out: list[StreamDelta] = []
        if self.reasoning_content:
            out.append(StreamDelta(reasoning_content=self.reasoning_content))
        if self.content:
            out.append(StreamDelta(content=self.content))
        if self.refusal:
            out.append(StreamDelta(refusal=self.refusal))
        if self.tool_calls:
            calls = tuple(
                ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments)
                for i, c in enumerate(self.tool_calls)
            )
            out.append(StreamDelta(tool_calls=calls))
        out = [replace(d, service_tier=tier, system_fingerprint=fingerprint) for d in out]
        return out

    def encode(self) -> bytes:
        """JSON bytes of the entry."""
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, data: bytes) -> CachedAnswer:
        """The entry ``encode`` wrote; ValueError (or KeyError/TypeError) for anything else."""
        raw: dict[str, Any] = json.loads(data)
        usage = raw.pop("usage")
        calls = raw.pop("tool_calls")
        answer = cls(
            tool_calls=tuple(ToolCall(**c) for c in calls), usage=TokenUsage(**usage), **raw
        )
        if not answer.cacheable:
            raise ValueError("stored answer is not replayable")
        return answer


@dataclass(slots=True)
class _Call:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class StreamRecorder:
    """Gathers a relayed stream's deltas into the whole answer (tool calls joined by index)."""

    def __init__(self) -> None:
        self._content: list[str] = []
        self._refusal: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _Call] = {}
        self.service_tier = ""
        self.system_fingerprint = ""

    def add(self, delta: StreamDelta) -> None:
        """Take one relayed delta."""
        self._content.append(delta.content)
        self._refusal.append(delta.refusal)
        self._reasoning.append(delta.reasoning_content)
        for piece in delta.tool_calls:
            call = self._calls.setdefault(piece.index, _Call())
            call.id = call.id or piece.id
            call.name = call.name or piece.name
            call.arguments.append(piece.arguments)
        self.service_tier = delta.service_tier or self.service_tier
        self.system_fingerprint = delta.system_fingerprint or self.system_fingerprint

    def answer(
        self,
        model: str,
        provider: str,
        finish_reason: str,
        usage: TokenUsage,
        cost_usd: float,
        service_tier: str = "",
        system_fingerprint: str = "",
    ) -> CachedAnswer:
        """The whole answer, ended by a summary with these fields."""
        return CachedAnswer(
            model=model,
            provider=provider,
            content="".join(self._content),
            tool_calls=tuple(
                ToolCall(id=c.id, name=c.name, arguments="".join(c.arguments))
                for _, c in sorted(self._calls.items())
            ),
            finish_reason=finish_reason,
            usage=usage,
            cost_usd=cost_usd,
            refusal="".join(self._refusal),
            reasoning_content="".join(self._reasoning),
            service_tier=service_tier or self.service_tier,
            system_fingerprint=system_fingerprint or self.system_fingerprint,
        )
