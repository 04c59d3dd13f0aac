"""Provider-specific extras (``ChatRequest.extra_body``) merged into an upstream body.

Closed by default: a provider takes only the top-level keys its config lists in
``extra_body_keys`` (none unless listed). On top of that, :data:`ROUTER_OWNED` names keys the
router owns for every kind (framing, output limits, choice count, continuation switches,
upstream/model selection and credentials) that no allowlist opens, whether or not the codec
set them for this request: they decide what is billed, what is checked against the context
window and how the answer is read. Objects merge key by key (Ollama's
``{"options": {"num_ctx": 8192}}`` joins the options the codec set); any other key the codec
set is the router's own too: an extra naming one is a collision. The router refuses such a
request for that model before it routes (:meth:`HttpProvider.refuses`) rather than let either
value win in silence.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

__all__ = ["ROUTER_OWNED", "collision", "merged", "not_allowed"]

# Keys (dotted for nested ones) that extras can never set, whatever the allowlist says.
ROUTER_OWNED: Final = frozenset(
    (
        # Framing, set by the transport for every call.
        "model",
        "messages",
        "prompt",
        "system",
        "stream",
        "stream_options",
        # One answer per call: the decoders read choice 0 and bill the call once.
        "n",
        "best_of",
        # Output limits: checked against the context window and priced before the call.
        "max_tokens",
        "max_completion_tokens",
        "max_new_tokens",
        "max_tokens_to_sample",
        "num_predict",
        "options.num_predict",
        # Continuation: the router decides whether the final assistant message is continued.
        "continue_final_message",
        "add_generation_prompt",
        "echo",
        # Upstream and model selection (OpenRouter, LiteLLM-style proxies) and credentials:
        # another model would be billed at the configured model's price.
        "models",
        "route",
        "provider",
        "fallbacks",
        "api_key",
        "api_base",
        "base_url",
        "api_version",
        "extra_headers",
        # Capabilities the router matches models on.
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "response_format",
        "format",
    )
)


def not_allowed(extra: dict[str, Any], allowed: Iterable[str]) -> str:
    """The dotted path of the first key of ``extra`` the router owns (:data:`ROUTER_OWNED`)
    or, at the top level, that is not in ``allowed``; "" when every key may be sent."""
    permitted = frozenset(allowed)
    for key, value in extra.items():
        if key in ROUTER_OWNED or key not in permitted:
            return key
        if isinstance(value, dict):
            for inner in value:
                if f"{key}.{inner}" in ROUTER_OWNED:
                    return f"{key}.{inner}"
    return ""


def collision(body: dict[str, Any], extra: dict[str, Any], prefix: str = "") -> str:
    """The dotted path of the first key of ``extra`` that ``body`` (the codec's encoding of
    the request) already sets; "" when none."""
    for key, value in extra.items():
        path = f"{prefix}{key}"
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
