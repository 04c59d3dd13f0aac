"""gRPC's refusals of a message over a size limit, told apart by direction and named by the
config key that set the limit.

gRPC core reports a message over a limit as RESOURCE_EXHAUSTED with no ErrorInfo and these words
(grpc/src/core message size filter; may be wrapped in "Stream removed (...)"), seen by the
client either way round: "CLIENT: Sent ..." / "SERVER: Received ..." for a request, "CLIENT:
Received ..." / "SERVER: Sent ..." for an answer. A request too large is the client's 413; an
answer too large a 502 (:mod:`gateway.errors`).

A request the gateway accepted (within ``gateway.max_body_bytes``) but the service refused means
the two configs disagree: the message says which key to raise, and a warning tells the operator.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from llmrouter.sizes import FRAMING_MARGIN_BYTES, describe_bytes

__all__ = ["SizeRefusal", "size_refusal"]

logger = logging.getLogger(__name__)

_SIZE_LIMIT = re.compile(
    r"(CLIENT|SERVER): (Sent|Received) message larger than max \((\d+) vs\. (\d+)\)"
)
# The key that sets each service's receive limit, by the name errors give the service.
_RECEIVE_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "router": "router.max_receive_message_bytes",
        "metrics service": "metrics.max_receive_message_bytes",
    }
)


@dataclass(frozen=True, slots=True)
class SizeRefusal:
    """A message gRPC refused for its size, as the client is told of it."""

    # True: the request was too large (413); False: the answer (502, not to be retried).
    request: bool
    # The client's message: sizes, limit and the config key that sets it.
    message: str


def size_refusal(details: str, service: str) -> SizeRefusal | None:
    """The refusal that gRPC's ``details`` report for a call to ``service``, or None when they
    do not report a message over a size limit."""
    found = _SIZE_LIMIT.search(details)
    if found is None:
        return None
    side, verb, size, limit = found.groups()
    if (side, verb) == ("SERVER", "Received"):
        key = _RECEIVE_KEYS.get(service, "max_receive_message_bytes")
        logger.warning(
            "gateway: the %s refused a request of %s bytes over its limit of %s bytes: raise "
            "%s to at least gateway.max_body_bytes plus %d, so that every body the gateway "
            "accepts reaches it",
            service,
            size,
            limit,
            key,
            FRAMING_MARGIN_BYTES,
        )
        return SizeRefusal(
            True,
            f"The request is too large for the {service}: {size} bytes as a gRPC message, more "
            f"than its limit of {describe_bytes(int(limit))}, set by {key} (which should be at "
            f"least gateway.max_body_bytes plus {FRAMING_MARGIN_BYTES} bytes).",
        )
    if (side, verb) == ("CLIENT", "Sent"):
        return SizeRefusal(
            True,
            f"The request is too large for the {service}: {size} bytes as a gRPC message, more "
            f"than the gateway sends ({describe_bytes(int(limit))}: gateway.max_body_bytes plus "
            f"{FRAMING_MARGIN_BYTES} bytes of framing).",
        )
    return SizeRefusal(
        False,
        f"The answer from the {service} is too large: {size} bytes, at most {limit} allowed. "
        "Retrying would only produce it again.",
    )
