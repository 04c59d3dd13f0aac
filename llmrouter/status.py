"""Rich gRPC errors as every llmrouter service returns them: a ``google.rpc.Status`` with one
``ErrorInfo`` (domain ``llmrouter``), ``RetryInfo`` when a retry delay is known and
``BadRequest`` for bad fields (Google AIP-193; grpc/grpc ``examples/python/errors``).

Messages can quote the request, and a status message travels twice in the HTTP/2 trailers
(``grpc-message`` and the details), which clients refuse beyond 8 KiB: texts are clipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = ["DOMAIN", "MAX_MESSAGE_CHARS", "MAX_VIOLATIONS", "clip", "rich_status"]

#: ``google.rpc.ErrorInfo.domain`` of every error our services return.
DOMAIN = "llmrouter"
#: Longest message, metadata value or violation description sent (characters).
MAX_MESSAGE_CHARS = 1000
#: Most field violations sent (a batch of 500 bad records would otherwise name 500 fields).
MAX_VIOLATIONS = 20


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rich_status(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    *,
    metadata: Mapping[str, str] | None = None,
    retry_after: float | None = None,
    violations: Sequence[tuple[str, str]] = (),
) -> grpc.Status:
    """A ``grpc.Status`` (for ``context.abort_with_status``) carrying ``ErrorInfo(reason)``,
    ``RetryInfo`` when ``retry_after`` (seconds, >= 0) is given and ``BadRequest`` with the
    first :data:`MAX_VIOLATIONS` of ``violations`` ((field, description) pairs)."""
    info = error_details_pb2.ErrorInfo(
        reason=reason, domain=DOMAIN, metadata={k: clip(v) for k, v in (metadata or {}).items()}
    )
    details = [_pack(info)]
    if retry_after is not None and retry_after >= 0:
        seconds = math.floor(retry_after)
        delay = duration_pb2.Duration(seconds=seconds, nanos=int((retry_after - seconds) * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    if violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=field[:MAX_MESSAGE_CHARS], description=clip(description)
                )
                for field, description in violations[:MAX_VIOLATIONS]
            ]
        )
        details.append(_pack(bad_request))
    status = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=clip(message), details=details
    )
    return rpc_status.to_status(status)


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
