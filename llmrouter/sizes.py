"""Message sizes the gateway and the router must agree on, defined once for both configs.

Answers: the router refuses to send an answer larger than its ``max_response_bytes`` and the
gateway refuses to receive one larger than its own; with the same default a router never builds
an answer that the gateway would then drop (after the upstream served, and billed, it).

Requests: the gateway takes bodies up to ``gateway.max_body_bytes`` and sends each as one gRPC
message of at most that plus :data:`FRAMING_MARGIN_BYTES`; the router receives messages up to
``router.max_receive_message_bytes``, whose default is exactly that sum. When one file holds
both sections, :func:`router_receive_limit` derives the router's limit from the gateway's (or
refuses, at start, a router limit set lower), so a body the gateway accepts is never one the
router refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .config import ConfigError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_RECEIVE_MESSAGE_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "FRAMING_MARGIN_BYTES",
    "GATEWAY_BODY_ENV",
    "ROUTER_RECEIVE_ENV",
    "check_request_limits",
    "configured_int",
    "describe_bytes",
    "router_receive_limit",
]

# Default of gateway.max_response_bytes and router.max_response_bytes: 16 MiB, four times
# gRPC's own 4 MiB receive default, so long answers with many choices fit.
DEFAULT_MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024

# Default of gateway.max_body_bytes: 32 MiB. Long-context prompts run to several MB (a
# 1M-token window holds ~4 MB of text) and base64 images add a third to their size; LiteLLM and
# the hosted APIs take bodies of 8 MB and more.
DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024

# What a chat request gains on its way from a JSON body to a gRPC message (request ids, the
# caller, field tags; protobuf is otherwise more compact than JSON).
FRAMING_MARGIN_BYTES: Final = 64 * 1024

# Default of router.max_receive_message_bytes: the largest message the gateway sends.
DEFAULT_MAX_RECEIVE_MESSAGE_BYTES: Final = DEFAULT_MAX_BODY_BYTES + FRAMING_MARGIN_BYTES

# The environment overrides of the two keys (llmrouter.config's LLMROUTER_<SECTION>_<FIELD>).
GATEWAY_BODY_ENV: Final = "LLMROUTER_GATEWAY_MAX_BODY_BYTES"
ROUTER_RECEIVE_ENV: Final = "LLMROUTER_ROUTER_MAX_RECEIVE_MESSAGE_BYTES"


def describe_bytes(size: int) -> str:
    """``size`` in bytes with its binary unit when whole: ``33554432 bytes (32 MiB)``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size} bytes ({size // scale} {unit})"
    return f"{size} bytes"


def configured_int(
    document: Mapping[str, Any], section: str, key: str, environ: Mapping[str, str]
) -> int | None:
    """``section.key`` as the file and environment set it (the environment wins), or None when
    neither sets it or the value is not an integer (that section's own loader reports it)."""
    value: Any = None
    table = document.get(section)
    if isinstance(table, Mapping):
        value = table.get(key)
    text = environ.get(f"LLMROUTER_{section.upper()}_{key.upper()}", "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def router_receive_limit(
    configured: int | None, document: Mapping[str, Any], environ: Mapping[str, str]
) -> int | None:
    """The router's ``max_receive_message_bytes`` when the same file (or environment) sets
    ``gateway.max_body_bytes``; None leaves the router's value as it is.

    ``configured`` is the router's own setting (None: not set). Unset, it becomes at least the
    gateway's limit plus :data:`FRAMING_MARGIN_BYTES`. Set lower than that, it is a ConfigError
    (:func:`check_request_limits`).
    """
    body = configured_int(document, "gateway", "max_body_bytes", environ)
    if body is None or body <= 0:
        return None
    if configured is None:
        return max(body + FRAMING_MARGIN_BYTES, DEFAULT_MAX_RECEIVE_MESSAGE_BYTES)
    check_request_limits(body, configured, "max_receive_message_bytes")
    return None


def check_request_limits(body: int, receive: int, key: str) -> None:
    """ConfigError, starting with ``key``, when a router receiving at most ``receive`` bytes
    would refuse requests a gateway taking bodies of ``body`` bytes accepts."""
    needed = body + FRAMING_MARGIN_BYTES
    if receive >= needed:
        return
    raise ConfigError(
        f"{key}: router.max_receive_message_bytes ({describe_bytes(receive)}) is less than "
        f"gateway.max_body_bytes ({describe_bytes(body)}) plus {FRAMING_MARGIN_BYTES} bytes of "
        f"framing, so the router would refuse requests the gateway accepts: set "
        f"router.max_receive_message_bytes to at least {needed} (or leave it unset: it follows "
        "the gateway's limit) or lower gateway.max_body_bytes"
    )
