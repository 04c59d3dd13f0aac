"""Streams that misbehave after their first token, through a real router over gRPC: a bad chunk
is skipped, a finished stream missing its end marker is an answer, a broken or stalled stream is
continued on a model that can continue it, or ends promptly with the original error."""

from __future__ import annotations

from typing import Any

import grpc
import httpx

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.conftest import free_port
from tests.fakes import Behavior, FakeUpstream

from .conftest import model

ONE_TRY = RetryConfig(attempts_per_model=1, stream_idle_timeout_s=0.5)
# 60 pieces of one text, the same on every model, so a continuation can be checked exactly.
WORDS = " ".join(f"w{i:02d}" for i in range(60))


def chat(text: str = "hello") -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model="auto", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)]
    )


async def stream(stub: Any) -> tuple[list[Any], grpc.aio.AioRpcError | None]:
    """The chunks received, and the error that ended the stream (None: a summary came)."""
    received: list[Any] = []
    try:
        async for chunk in stub.StreamComplete(
            router_service_pb2.StreamCompleteRequest(chat=chat())
        ):
            received.append(chunk)
    except grpc.aio.AioRpcError as exc:
        return received, exc
    return received, None


def text_of(chunks: list[Any]) -> str:
    return "".join(c.delta.content for c in chunks if c.WhichOneof("chunk") == "delta")


async def test_bad_chunks_and_missing_end_markers_lose_no_answer(
    make_router: Any, upstream: FakeUpstream
) -> None:
    running, stub = await make_router(
        (model("a"), model("b", "anth")), ("a", "b"), retry=ONE_TRY, prometheus_port=free_port()
    )
    # One after the other in one router: a bad chunk mid-answer, then a finished stream
    # without its end marker, on each of two wire formats.
    for name, behavior in [
        ("a", Behavior(chunks=6, garbage_at=3)),
        ("b", Behavior(chunks=6, garbage_at=2)),
        ("a", Behavior(chunks=6, drop_end_marker=True)),
        ("b", Behavior(chunks=6, drop_end_marker=True)),
    ]:
        upstream.set("a", behavior if name == "a" else Behavior(status=503))
        upstream.set("b", behavior)
        chunks, error = await stream(stub)
        assert error is None, error
        assert text_of(chunks) == f"Hello from {name}."
        summary = chunks[-1].summary
        assert summary.finish_reason == chat_pb2.FINISH_REASON_STOP
        assert summary.usage.completion_tokens == 6
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{running.prometheus_port}/metrics")).text
    assert 'llmrouter_stream_chunks_skipped_total{provider="oai"} 1.0' in text
    assert 'llmrouter_stream_chunks_skipped_total{provider="anth"} 1.0' in text
