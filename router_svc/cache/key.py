"""The cache key of a request: a digest of everything that shapes its answer.

Every field of :class:`~router_svc.chat.ChatRequest` is in the digest except those listed in
:data:`IGNORED` (labels that reach the ledger but not the upstream, and how the answer is
delivered): a field added later is in the key until someone decides otherwise, so a new
option can cost a miss but never replay an answer given to another question. The caller's
API key id partitions the cache (never the key's secret, which the router never sees).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from typing import Any

from ..chat import ChatRequest

__all__ = ["IGNORED", "cache_key"]

# Not part of the question: stored with usage only (user, source, metadata, task_type,
# client_request_id, team_id), the partition (api_key_id), the cache switch itself, stream-only
# padding, and the routing's memo of derived values.
IGNORED = frozenset(
    {
        "user",
        "source",
        "api_key_id",
        "team_id",
        "metadata",
        "client_request_id",
        "task_type",
        "cache",
        "include_obfuscation",
        "derived",
    }
)
_KEYED = tuple(f.name for f in fields(ChatRequest) if f.name not in IGNORED)
# Bump when the digest's input or the stored entry's shape changes: old entries become misses.
VERSION = "v1"


def cache_key(request: ChatRequest, category: str) -> str:
    """``cache:v1:<api key id>:<sha256 hex>`` for ``request`` routed to ``category`` (JSON of
    the keyed fields, keys sorted, so equal requests give equal keys whatever order their JSON
    had; the category too, so a runtime keyword edit that moves a request does not replay
    another chain's answer)."""
    keyed: dict[str, Any] = {name: getattr(request, name) for name in _KEYED}
    keyed["routed_category"] = category
    text = json.dumps(
        keyed, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=asdict
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"cache:{VERSION}:{request.api_key_id}:{digest}"
