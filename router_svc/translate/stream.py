"""Stream chunks: the events of a streamed completion as StreamCompleteResponse messages."""

from __future__ import annotations

from llmrouter.v1 import router_service_pb2

from ..chat import StreamDelta, ToolCallDelta
from ..pbtime import timestamp
from ..routing.failover import StreamStarted, StreamSummary
from .chat import CACHE_STATUS, attempts_to_proto, finish_reason, usage_to_proto

__all__ = ["stream_chunk", "stream_chunks", "tool_call_deltas"]


def tool_call_deltas(deltas: tuple[ToolCallDelta, ...]) -> list[router_service_pb2.ToolCallDelta]:
    """Streamed tool-call fragments as proto messages."""
    return [
        router_service_pb2.ToolCallDelta(index=d.index, id=d.id, name=d.name, arguments=d.arguments)
        for d in deltas
    ]


def _delta(event: StreamDelta) -> router_service_pb2.StreamDelta:
    if event.tool_calls or event.refusal or event.logprobs_json or event.reasoning_content:
        return router_service_pb2.StreamDelta(
            content=event.content,
            tool_calls=tool_call_deltas(event.tool_calls),
            refusal=event.refusal,
            logprobs_json=event.logprobs_json,
            service_tier=event.service_tier,
            system_fingerprint=event.system_fingerprint,
            reasoning_content=event.reasoning_content,
        )
    # The common case (text only) without the empty fields: built once per chunk.
    return router_service_pb2.StreamDelta(
        content=event.content,
        service_tier=event.service_tier,
        system_fingerprint=event.system_fingerprint,
    )


def stream_chunks(
    events: list[StreamStarted | StreamDelta | StreamSummary], batched: bool
) -> list[router_service_pb2.StreamCompleteResponse]:
    """Events of a streamed completion as StreamCompleteResponse chunks, in order; with
    ``batched`` (the caller set ``accepts_delta_batches``), consecutive deltas make one
    ``delta_batch`` chunk (one ``delta`` chunk when alone)."""
    out: list[router_service_pb2.StreamCompleteResponse] = []
    run: list[router_service_pb2.StreamDelta] = []
    for event in events:
        if isinstance(event, StreamDelta):
            if batched:
                run.append(_delta(event))
                continue
            out.append(router_service_pb2.StreamCompleteResponse(delta=_delta(event)))
            continue
        if run:
            out.append(_deltas(run))
            run = []
        out.append(stream_chunk(event))
    if run:
        out.append(_deltas(run))
    return out


def _deltas(run: list[router_service_pb2.StreamDelta]) -> router_service_pb2.StreamCompleteResponse:
    if len(run) == 1:
        return router_service_pb2.StreamCompleteResponse(delta=run[0])
    return router_service_pb2.StreamCompleteResponse(
        delta_batch=router_service_pb2.StreamDeltaBatch(deltas=run)
    )


def stream_chunk(
    event: StreamStarted | StreamDelta | StreamSummary,
) -> router_service_pb2.StreamCompleteResponse:
    """One event of a streamed completion as a StreamCompleteResponse chunk."""
    if isinstance(event, StreamDelta):
        return router_service_pb2.StreamCompleteResponse(delta=_delta(event))
    if isinstance(event, StreamStarted):
        return router_service_pb2.StreamCompleteResponse(
            start=router_service_pb2.StreamStart(
                id=event.request_id,
                model=event.entry.name,
                provider=event.entry.provider.name,
                category=event.category,
                create_time=timestamp(event.create_time),
                attempt_count=event.attempt_count,
                fallback=event.fallback,
                trace_id=event.trace_id,
                cache=CACHE_STATUS[event.cache],
            )
        )
    return router_service_pb2.StreamCompleteResponse(
        summary=router_service_pb2.StreamSummary(
            model=event.entry.name,
            provider=event.entry.provider.name,
            finish_reason=finish_reason(event.finish_reason),
            usage=usage_to_proto(event.usage, event.cost_usd),
            attempts=attempts_to_proto(event.attempts),
            fallback=event.fallback,
            service_tier=event.service_tier,
            system_fingerprint=event.system_fingerprint,
        )
    )
