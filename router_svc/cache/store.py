"""Where answers are kept: the shared store (Redis, every replica) or this process (bounded LRU)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from llmrouter.shared_state import SharedState

__all__ = ["AnswerStore", "LruAnswers", "SharedAnswers"]


class AnswerStore(Protocol):
    """Encoded answers by cache key. Both raise ``StateUnavailable`` when the store cannot
    answer (the caller treats it as a miss, or skips storing)."""

    def describe(self) -> str:
        """Where the answers are kept, for logs."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The entry at ``key``, or None (absent or expired)."""
        ...

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Keep ``value`` at ``key`` for ``ttl_s`` seconds."""
        ...


class SharedAnswers:
    """Answers in the shared store: a hit on one replica is an answer stored by any."""

    def __init__(self, state: SharedState) -> None:
        self._state = state

    def describe(self) -> str:
        return self._state.describe()

    async def get(self, key: str) -> bytes | None:
        return await self._state.get(key)

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._state.set(key, value, ttl_s)


class LruAnswers:
    """Answers in this process, at most ``max_entries`` of at most ``max_bytes`` in all; the
    least recently used go first, expired ones when met."""

    def __init__(
        self, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def describe(self) -> str:
        return f"this process (at most {self._max_entries} answers, {self._max_bytes} bytes)"

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        value, expires = item
        if expires <= self._clock():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self._max_bytes:
            return
        self._drop(key)
        self._items[key] = (value, self._clock() + ttl_s)
        self.bytes += len(value)
        while len(self._items) > self._max_entries or self.bytes > self._max_bytes:
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.bytes -= len(item[0])
