"""Message sizes the gateway and the router must agree on, defined once for both configs.

The router refuses to send an answer larger than its ``max_response_bytes`` and the gateway
refuses to receive one larger than its own; with the same default a router never builds an
answer that the gateway would then drop (after the upstream served, and billed, it).
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES"]

# Default of gateway.max_response_bytes and router.max_response_bytes: 16 MiB, four times
# gRPC's own 4 MiB receive default, so long answers with many choices fit.
DEFAULT_MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
