"""The exact-match response cache (README, "Response cache")."""

from .config import ALL_KEYS, CacheConfig
from .entry import CACHEABLE_FINISHES, CachedAnswer, StreamRecorder
from .key import IGNORED, cache_key
from .serving import CACHE_SOURCE, CachingEngine
from .store import AnswerStore, LruAnswers, SharedAnswers

__all__ = [
    "ALL_KEYS",
    "CACHEABLE_FINISHES",
    "CACHE_SOURCE",
    "IGNORED",
    "AnswerStore",
    "CacheConfig",
    "CachedAnswer",
    "CachingEngine",
    "LruAnswers",
    "SharedAnswers",
    "StreamRecorder",
    "cache_key",
]
