"""The text of a request that the predictor embeds, and the prompt vectors kept for learning.

A prompt vector is derived from the caller's prompt: it lives in this process's memory only
(never written to a file, the ledger, a log or a span), at most ``capacity`` of them, each for
at most ``ttl_s`` seconds, so feedback arriving on an answer can be learned from.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from ..chat import ChatRequest

__all__ = ["PromptVectors", "Vector", "prompt_text"]

Vector = npt.NDArray[np.float32]


def prompt_text(request: ChatRequest, chars: int) -> str:
    """What of ``request`` is embedded: its last user message's text, else the text of all
    its messages (one per line), cut to the first ``chars`` characters."""
    for message in reversed(request.messages):
        if message.role == "user":
            if text := message.text():
                return text[:chars]
            break
    parts: list[str] = []
    left = chars
    for message in request.messages:
        if left <= 0:
            break
        text = message.text()[:left]
        if text:
            parts.append(text)
            left -= len(text) + 1
    return "\n".join(parts)[:chars]


class PromptVectors:
    """Prompt vectors by the router's request id: least recently added dropped beyond
    ``capacity``, each dropped ``ttl_s`` seconds after it was added (clock injected)."""

    def __init__(
        self, capacity: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._capacity = capacity
        self._ttl = ttl_s
        self._clock = clock
        self._vectors: OrderedDict[str, tuple[float, Vector]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._vectors)

    def __repr__(self) -> str:
        # Never the vectors: they are derived from prompts.
        return f"PromptVectors({len(self._vectors)} of {self._capacity})"

    def add(self, request_id: str, vector: Vector) -> None:
        """Keep ``vector`` for ``request_id`` (the oldest goes beyond capacity)."""
        vectors = self._vectors
        vectors[request_id] = (self._clock() + self._ttl, vector)
        vectors.move_to_end(request_id)
        while len(vectors) > self._capacity:
            vectors.popitem(last=False)

    def get(self, request_id: str) -> Vector | None:
        """The vector of ``request_id``, None when unknown or expired (then dropped)."""
        found = self._vectors.get(request_id)
        if found is None:
            return None
        expires, vector = found
        if expires <= self._clock():
            del self._vectors[request_id]
            return None
        return vector

    def expire(self) -> int:
        """Drop the expired vectors (the oldest first, as they expire in order); how many."""
        now, dropped = self._clock(), 0
        vectors = self._vectors
        while vectors:
            request_id, (expires, _) = next(iter(vectors.items()))
            if expires > now:
                break
            del vectors[request_id]
            dropped += 1
        return dropped
