"""Section ``[router.cache]``: the exact-match response cache (README, "Response cache")."""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmrouter.config import ConfigError

__all__ = ["ALL_KEYS", "CacheConfig"]

# In ``api_keys``: every caller, with or without an API key.
ALL_KEYS = "*"


@dataclass(frozen=True)
class CacheConfig:
    """Where and for how long whole answers are kept and replayed.

    A request is looked up (and its answer stored) only when all of these hold: ``enabled``;
    the request asked for it (``llmrouter.cache``/``x-llmrouter-cache``) or, when it said
    nothing, its API key id is in ``api_keys``; its category's ``cache`` is not false.
    Answers live in the shared store (``[state]``: Redis, shared by every replica) or, with
    the embedded backend, in this process, bounded by ``max_entries`` and ``max_bytes``.
    """

    # Off: the cache is never consulted, whatever a request asks.
    enabled: bool = True
    # Seconds a stored answer is replayed; past it the next request goes upstream again.
    ttl_s: float = 300.0
    # API key ids whose requests use the cache without asking ("*": every caller); a request
    # that says llmrouter.cache = false is still left out.
    api_keys: tuple[str, ...] = ()
    # Largest stored answer (its encoded entry), in bytes; larger answers are not stored.
    max_entry_bytes: int = 1 << 20
    # Embedded backend only: most answers and bytes kept in this process (least recently
    # used dropped first).
    max_entries: int = 10_000
    max_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ttl_s) and self.ttl_s > 0):
            raise ConfigError(f"ttl_s: expected a positive number, got {self.ttl_s}")
        for name in ("max_entry_bytes", "max_entries", "max_bytes"):
            if (value := getattr(self, name)) < 1:
                raise ConfigError(f"{name}: expected at least 1, got {value}")
        for i, key in enumerate(self.api_keys):
            if not key:
                raise ConfigError(f"api_keys[{i}]: must not be empty")

    def asked(self, wanted: bool | None, api_key_id: str) -> bool:
        """Whether a request that set ``llmrouter.cache`` to ``wanted`` (None: unset), made
        with the key ``api_key_id``, uses the cache (its category aside)."""
        if not self.enabled or wanted is False:
            return False
        return wanted is True or ALL_KEYS in self.api_keys or api_key_id in self.api_keys
