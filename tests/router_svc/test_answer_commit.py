"""The order in which a router answer leaves: response headers (which commit the call for a
client's gRPC retry policy) as soon as an upstream answer is accepted, then the usage record
in the outbox file, then the answer's last message.

The outbox file is held by a second connection (its write lock) so the record cannot reach it
yet: what the client receives meanwhile is what a router killed at that moment would have sent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc

from llmrouter.serving import GrpcServer
from llmrouter.v1 import chat_pb2, router_service_pb2

from .conftest import FakeMetrics, model, wait_for
from .test_outbox_durable import rows_in, write_locked

SLOW_FILE = {"outbox_durable_timeout_ms": 10_000, "outbox_flush_interval_ms": 600_000}


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model="m", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")]
    )


async def test_complete_sends_headers_then_records_then_answers(
    make_router: Any, tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    router, _ = await make_router((model("m"),), ("m",), **SLOW_FILE)
    path = tmp_path / "outbox0.sqlite3"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{router.port}") as channel:
        # Complete as a unary-stream call on the wire: the unary client API hands out the
        # headers only with the answer, a streaming one as soon as they arrive.
        complete = channel.unary_stream(
            "/llmrouter.v1.RouterService/Complete",
            request_serializer=router_service_pb2.CompleteRequest.SerializeToString,
            response_deserializer=router_service_pb2.CompleteResponse.FromString,
        )
        with write_locked(path):
            call = complete(router_service_pb2.CompleteRequest(chat=chat()), timeout=20)
            await asyncio.wait_for(call.initial_metadata(), 5)  # committed: no retry now
            await asyncio.sleep(0.3)
            assert not call.done()  # the answer waits for its record
            assert router.outbox.stats.commits == 0
        replies = [reply async for reply in call]
    assert len(replies) == 1
    reply = replies[0]
    assert router.outbox.stats.commits == 1
    assert router.outbox.stats.not_durable == 0
    # On file when the answer arrived (and perhaps shipped since).
    assert f"{reply.id}:1" in rows_in(path) | set(fake_metrics[0].records)


async def test_stream_summary_waits_for_the_record(make_router: Any, tmp_path: Path) -> None:
    router, stub = await make_router((model("m"),), ("m",), **SLOW_FILE)
    path = tmp_path / "outbox0.sqlite3"
    kinds: list[str] = []

    async def read() -> None:
        request = router_service_pb2.StreamCompleteRequest(chat=chat())
        async for chunk in stub.StreamComplete(request, timeout=20):
            kinds.append(str(chunk.WhichOneof("chunk")))

    with write_locked(path):
        reading = asyncio.create_task(read())
        await wait_for(lambda: len(kinds) >= 5)
        await asyncio.sleep(0.3)
        assert kinds == ["start", "delta", "delta", "delta", "delta"]  # all but the summary
        assert router.outbox.stats.commits == 0
    await asyncio.wait_for(reading, 5)
    assert kinds[-1] == "summary"
    assert router.outbox.stats.commits == 1
