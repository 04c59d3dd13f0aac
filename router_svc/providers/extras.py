"""Provider-specific extras (``ChatRequest.extra_body``) merged into an upstream body.

Objects merge key by key (Ollama's ``{"options": {"num_ctx": 8192}}`` joins the options the
codec set); any other key the codec set, and the keys that frame the exchange, are the
router's own: an extra naming one is a collision, which the router refuses before it routes
(:meth:`HttpProvider.refuses`) rather than let either value win in silence.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["collision", "merged"]

# Set by the transport's framing whether or not this codec wrote them for this call.
_FRAMING: Final = frozenset(("model", "messages", "stream", "stream_options"))


def collision(body: dict[str, Any], extra: dict[str, Any], prefix: str = "") -> str:
    """The dotted path of the first key of ``extra`` that ``body`` (the codec's encoding of
    the request) already sets, or is framing; "" when none."""
    for key, value in extra.items():
        path = f"{prefix}{key}"
        if not prefix and key in _FRAMING:
            return path
        if key not in body:
            continue
        if isinstance(value, dict) and isinstance(body[key], dict):
            if inner := collision(body[key], value, f"{path}."):
                return inner
            continue
        return path
    return ""


def merged(body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``extra`` merged in (objects key by key); ``extra`` must not collide."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            merged(body[key], value)
        else:
            body[key] = value
    return body
