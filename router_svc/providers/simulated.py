"""The built-in simulated local provider: deterministic text, configurable latency, streaming.

It lets the whole stack run, and be tested, on a machine without any model or API key. Its
answers say that they are simulated; asked for JSON (``response_format``) it answers a
deterministic instance of the schema instead (:mod:`.simulated_json`), so structured output,
the SDKs' ``parse`` helpers and an evaluation judge can be tried on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import zlib
from collections.abc import AsyncIterator

from llmrouter.learned.hashing import hashed_embedding

from ..chat import (
    ChatRequest,
    Completion,
    StreamDelta,
    StreamEnd,
    StreamEvent,
    TokenUsage,
    ToolCall,
    ToolCallDelta,
)
from ..embeddings import EmbedCall, Embeddings, estimate_tokens
from ..tokens import estimate_prompt_tokens
from .base import Provider, provider_kind
from .call import ProviderCall
from .simulated_json import json_answer

__all__ = ["DEFAULT_DIMENSIONS", "SimulatedProvider", "unit_vector"]

_WORDS = [
    "routing",
    "latency",
    "model",
    "token",
    "budget",
    "fallback",
    "chain",
    "breaker",
    "stream",
    "deadline",
    "request",
    "answer",
    "provider",
    "cost",
    "quality",
    "context",
    "window",
    "retry",
    "local",
    "remote",
    "trace",
    "usage",
    "ledger",
    "gateway",
]
_DEFAULT_WORDS = 24
# Characters of a JSON answer per piece (a stream's chunk, a token of its usage).
_JSON_CHUNK = 16
# Vector length of a simulated embedding model configured without ``dimensions``.
DEFAULT_DIMENSIONS = 64


def unit_vector(model: str, text: str, dimensions: int) -> tuple[float, ...]:
    """The simulated embedding of ``text`` by ``model``: its words and word pairs hashed into
    ``dimensions`` buckets (:func:`llmrouter.learned.hashing.hashed_embedding`, seeded by the
    model), so texts sharing words get similar vectors, as from a real embedding model (the
    learned router's kNN works on ``make run``). A text without a word gets a direction of
    its own: ``dimensions`` Gaussian coordinates from a generator seeded by a hash of model
    and text. Length 1; the same text and model give the same vector in every process."""
    hashed = hashed_embedding(text, dimensions, seed=model)
    if hashed.any():
        return tuple(hashed.tolist())
    digest = hashlib.blake2b(f"{model}\x00{text}".encode(), digest_size=16).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return tuple(v / norm for v in values)


@provider_kind("simulated")
class SimulatedProvider(Provider):
    """Answers every request locally with deterministic text (JSON of the asked schema, or a
    call to the first tool), and embeds with deterministic unit vectors of hashed words
    (:func:`unit_vector`)."""

    max_inputs = 2048

    async def embed(self, call: EmbedCall) -> Embeddings:
        """Sleep the configured latency, then one unit vector per input: the asked length, else
        the model's configured one, else :data:`DEFAULT_DIMENSIONS`; the prompt tokens are the
        router's estimate (:func:`router_svc.embeddings.estimate_tokens`)."""
        await asyncio.sleep(self.config.latency_ms / 1000)
        size = call.request.dimensions or call.model_dimensions or DEFAULT_DIMENSIONS
        vectors = tuple(unit_vector(call.model, text, size) for text in call.inputs)
        return Embeddings(vectors, TokenUsage(estimate_tokens(call.inputs)), call.model)

    def _answer(self, model: str, request: ChatRequest) -> tuple[list[str], tuple[ToolCall, ...]]:
        """The answer's pieces (joined: its text; each a chunk when streamed; each counted as
        a token) or a tool call."""
        last = request.messages[-1] if request.messages else None
        wants_tool = (
            request.tools
            and request.tool_choice != "none"
            and (last is None or last.role != "tool")
        )
        if wants_tool:
            name = request.tool_choice if request.tool_choice_is_function else request.tools[0].name
            call_id = f"call_{zlib.crc32(f'{request.client_request_id}{name}'.encode()):08x}"
            return [], (ToolCall(id=call_id, name=name, arguments="{}"),)
        fmt = request.response_format
        if fmt is not None and fmt.type != "text":
            # Whole (max_tokens does not cut it: cut JSON would be no answer at all).
            text = json_answer(model, request, fmt)
            return [text[i : i + _JSON_CHUNK] for i in range(0, len(text), _JSON_CHUNK)], ()
        seed = zlib.crc32(f"{model}\x00{last.text() if last else ''}".encode())
        count = (
            _DEFAULT_WORDS
            if request.max_tokens is None
            else min(_DEFAULT_WORDS, request.max_tokens)
        )
        words = [f"[simulated {model}]"]
        for i in range(max(count - 1, 0)):
            seed = (seed * 1103515245 + 12345 + i) & 0x7FFFFFFF
            words.append(_WORDS[seed % len(_WORDS)])
        words = words[: max(count, 0)]
        return [w if i == 0 else f" {w}" for i, w in enumerate(words)], ()

    def _finish(self, request: ChatRequest, words: list[str], calls: tuple[ToolCall, ...]) -> str:
        if calls:
            return "tool_calls"
        if request.needs_json:
            return "stop"
        if request.max_tokens is not None and request.max_tokens < _DEFAULT_WORDS:
            return "length"
        return "stop"

    async def complete(self, call: ProviderCall) -> Completion:
        """Sleep the configured latency, then answer."""
        model, request = call.model, call.request
        await asyncio.sleep(self.config.latency_ms / 1000)
        words, calls = self._answer(model, request)
        usage = TokenUsage(estimate_prompt_tokens(request), len(words) + 8 * len(calls))
        return Completion(
            content="".join(words),
            tool_calls=calls,
            finish_reason=self._finish(request, words, calls),  # type: ignore[arg-type]
            usage=usage,
            upstream_model=model,
        )

    async def stream(self, call: ProviderCall) -> AsyncIterator[StreamEvent]:
        """One word (or 16 characters of JSON) per chunk, ``chunk_delay_ms`` apart, then the
        end with usage."""
        request = call.request
        await asyncio.sleep(self.config.latency_ms / 1000)
        words, calls = self._answer(call.model, request)
        for i, tool_call in enumerate(calls):
            yield StreamDelta(tool_calls=(_delta(i, tool_call),))
        for i, word in enumerate(words):
            if i and self.config.chunk_delay_ms:
                await asyncio.sleep(self.config.chunk_delay_ms / 1000)
            yield StreamDelta(content=word)
        usage = TokenUsage(estimate_prompt_tokens(request), len(words) + 8 * len(calls))
        yield StreamEnd(self._finish(request, words, calls), usage)  # type: ignore[arg-type]


def _delta(index: int, call: ToolCall) -> ToolCallDelta:
    return ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments)
