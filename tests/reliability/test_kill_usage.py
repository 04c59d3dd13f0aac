"""A killed router keeps the usage of every answer it sent.

Each answer's usage records are in the router's outbox file before the answer's last byte
leaves it (Complete: the response; StreamComplete: the summary chunk), so a SIGKILL right after
the answer loses nothing: the restarted router ships what the killed one wrote. The flush
interval is far beyond the test, so records reach the file only through that barrier."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc

from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc
from tests.fakes import Behavior, running_upstream

from .stack import Stack, metrics_section, router_section, scaled, stack, wait_usage

KILLS = scaled(50, 200)
FLUSH_INTERVAL_MS = 600_000


def models(base_url: str) -> str:
    return f"""default_chain = ["m"]
[[router.providers]]
name = "up"
kind = "openai"
base_url = "{base_url}/v1"
[[router.models]]
name = "m"
provider = "up"
input_price_per_million = 1.0
output_price_per_million = 2.0
"""


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model="m", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hello")]
    )


async def answer(port: int, streamed: bool) -> str:
    """One whole answer from the router on ``port``; its request id."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        if not streamed:
            reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()), timeout=10)
            assert reply.message.content
            return str(reply.id)
        request_id, summary = "", False
        async for chunk in stub.StreamComplete(
            router_service_pb2.StreamCompleteRequest(chat=chat()), timeout=10
        ):
            kind = chunk.WhichOneof("chunk")
            request_id = chunk.start.id if kind == "start" else request_id
            summary = summary or kind == "summary"
        assert summary
        assert request_id
        return request_id


async def start_router(s: Stack, tmp: Path, metrics_port: int, base_url: str) -> int:
    """(Re)start the router "r" (same outbox file every time); its port."""
    section = router_section(
        tmp, "r", metrics_port, models(base_url), flush_interval_ms=FLUSH_INTERVAL_MS
    )
    return (await s.start("r", "router", section)).port


async def test_sigkill_right_after_answers_loses_no_usage(tmp_path: Path) -> None:
    async with running_upstream() as upstream:
        upstream.set(None, Behavior(chunks=3))
        async with stack(tmp_path) as s:
            metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
            port = await start_router(s, tmp_path, metrics.port, upstream.base_url)

            # Five answers (both kinds), then SIGKILL at once: all five reach the ledger.
            first = [await answer(port, streamed=n % 2 == 1) for n in range(5)]
            assert await s.services["r"].stop(signal.SIGKILL) == -signal.SIGKILL
            port = await start_router(s, tmp_path, metrics.port, upstream.base_url)
            rows = await wait_usage(s.metrics_db, 5, within_s=15)
            assert sorted(row[0] for row in rows) == sorted(f"{r}:1" for r in first)

            # Then a SIGKILL after every answer, restarting each time, on the same file.
            answered = list(first)
            for n in range(KILLS):
                answered.append(await answer(port, streamed=n % 2 == 0))
                assert await s.services["r"].stop(signal.SIGKILL) == -signal.SIGKILL
                port = await start_router(s, tmp_path, metrics.port, upstream.base_url)
            rows = await wait_usage(s.metrics_db, len(answered), within_s=30)

    ids = [row[0] for row in rows]
    lost = {f"{r}:1" for r in answered} - set(ids)
    assert not lost, f"{len(lost)} of {len(answered)} answers' usage lost"
    assert sorted(ids) == sorted(f"{r}:1" for r in answered)  # each exactly once
    assert {row[1] for row in rows} == {"succeeded"}
    print(f"\nkill after each answer: {KILLS} kills, {len(answered)} answers, 0 records lost")
