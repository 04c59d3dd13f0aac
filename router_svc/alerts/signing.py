"""Webhook signatures, after Stripe's scheme (https://docs.stripe.com/webhooks#verify-manually).

Each POST carries ``X-LLMRouter-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256, keyed with the webhook's secret, over ``<t>.<raw body>`` (the timestamp, a dot,
then the body's exact bytes). Receivers recompute it, compare in constant time and refuse a
``t`` too far from their clock, which stops replays of an old delivery. Every retry is signed
afresh with its own timestamp.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "sign", "signature_header", "verify"]

SIGNATURE_HEADER = "X-LLMRouter-Signature"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 of ``<timestamp>.<body>`` with ``secret``, as lower-case hex."""
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, timestamp: int, body: bytes) -> str:
    """The header's value: ``t=<timestamp>,v1=<signature>``."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: bytes, header: str, body: bytes, now: float, tolerance_s: float = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance_s`` of
    ``now`` (unix seconds); what a receiver runs (README, "Alerts")."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
