"""RouterService.Embed: EmbedRequest -> :class:`router_svc.embeddings.EmbedRequest` (validated,
errors naming the field, e.g. ``embed.inputs[3]``) and an answer -> EmbedResponse."""

from __future__ import annotations

from llmrouter.request_ids import REQUEST_ID_PATTERN
from llmrouter.v1 import router_service_pb2

from ..embeddings import EMBEDDINGS_FRONT_DOOR, EmbedRequest
from ..errors import InvalidRequest
from ..pbtime import timestamp_fields
from ..routing.embed import EmbedServed
from .chat import attempts_to_proto, usage_to_proto
from .chat_checks import check_fallback_models, check_ledger_fields

__all__ = ["embed_from_proto", "embed_response"]

_PATH = "embed"


def embed_from_proto(embed: router_service_pb2.EmbedRequest) -> EmbedRequest:
    """Validate ``embed`` and convert it; raises :class:`InvalidRequest` naming the field.
    Inputs: at least one, none empty (OpenAI's "Create embeddings": ``input`` "cannot be an
    empty string")."""
    inputs = tuple(embed.inputs)
    if not inputs:
        raise InvalidRequest("inputs must not be empty", field=f"{_PATH}.inputs")
    for i, text in enumerate(inputs):
        if not text:
            raise InvalidRequest(f"inputs[{i}] is an empty string", field=f"{_PATH}.inputs[{i}]")
    dimensions = embed.dimensions if embed.HasField("dimensions") else None
    if dimensions is not None and dimensions < 1:
        raise InvalidRequest("dimensions must be positive", field=f"{_PATH}.dimensions")
    client_request_id = embed.client_request_id
    if client_request_id and not REQUEST_ID_PATTERN.fullmatch(client_request_id):
        raise InvalidRequest(
            "client_request_id must be at most 128 characters of A-Z a-z 0-9 . _ : -",
            field=f"{_PATH}.client_request_id",
        )
    caller, routing, metadata = embed.caller, embed.routing, embed.metadata
    check_ledger_fields(
        _PATH, embed.user, caller.source, routing.category, routing.task_type, metadata
    )
    fallback_models = tuple(embed.fallback_models)
    if fallback_models:
        check_fallback_models(fallback_models, _PATH)
    # Always "embeddings": the metrics service refuses feedback on requests recorded so (an
    # embedding is no answer to score), so an Embed call may not record another door.
    front_door = embed.front_door or EMBEDDINGS_FRONT_DOOR
    if front_door != EMBEDDINGS_FRONT_DOOR:
        raise InvalidRequest(
            f"front_door must be {EMBEDDINGS_FRONT_DOOR!r} or empty", field=f"{_PATH}.front_door"
        )
    return EmbedRequest(
        model=embed.model or "auto",
        inputs=inputs,
        dimensions=dimensions,
        user=embed.user,
        category=routing.category,
        task_type=routing.task_type,
        source=caller.source,
        api_key_id=caller.api_key_id,
        team_id=caller.team_id,
        allowed_models=tuple(caller.allowed_models),
        metadata=dict(metadata),
        client_request_id=client_request_id,
        fallback_models=fallback_models,
        front_door=front_door,
    )


def embed_response(served: EmbedServed) -> router_service_pb2.EmbedResponse:
    """An embedding answer as an EmbedResponse: one Embedding per input, in input order."""
    return router_service_pb2.EmbedResponse(
        request_id=served.request_id,
        model=served.entry.name,
        provider=served.entry.provider.name,
        embeddings=[{"index": i, "values": vector} for i, vector in enumerate(served.vectors)],
        usage=usage_to_proto(served.usage, served.cost_usd),
        attempts=attempts_to_proto(served.attempts),
        category=served.decision.category,
        create_time=timestamp_fields(served.create_time),
        fallback=served.fallback,
        trace_id=served.trace_id,
        upstream_calls=served.upstream_calls,
    )
