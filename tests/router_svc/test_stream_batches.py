"""Streams relayed in batches (router_svc.coalesce) and read from the body's bytes
(router_svc.providers.framing): deltas that queued while the router was behind reach a caller
that accepts batches as ``delta_batch`` messages, in order; a caller from before batches gets
one ``delta`` message each, as before; a lone delta is never held back. Whether the router
keeps up depends on the machine: that it then sends deltas one by one is tested on batches()
itself, with a threshold no hand-over reaches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.coalesce import batches
from router_svc.providers.framing import payloads
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for

PIECES = ["Sun", "ny ", "all ", "day", "."]


def burst(pieces: list[str] = PIECES) -> bytes:
    """An OpenAI chat.completion.chunk stream (API reference, "The chat completion chunk
    object") whose content chunks, finish and usage come in one write."""
    events: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        *({"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}},
    ]
    body = "".join(f"data: {json.dumps({'id': 'x', 'model': 'm', **e})}\n\n" for e in events)
    return (body + "data: [DONE]\n\n").encode()


@contextlib.asynccontextmanager
async def busy_loop() -> AsyncIterator[None]:
    """The event loop held 5 ms at a time (by a task of the test, in the router's process), as
    when many streams share it."""
    done = asyncio.Event()

    async def busy() -> None:
        while not done.is_set():
            time.sleep(0.005)  # noqa: ASYNC251 - the point: the loop held
            await asyncio.sleep(0)

    hog = asyncio.ensure_future(busy())
    try:
        yield
    finally:
        done.set()
        await hog


async def relayed(stub: Any, accepts: bool) -> list[router_service_pb2.StreamCompleteResponse]:
    chat = chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")])
    request = router_service_pb2.StreamCompleteRequest(chat=chat, accepts_delta_batches=accepts)
    return [message async for message in stub.StreamComplete(request)]


def texts(messages: list[router_service_pb2.StreamCompleteResponse]) -> list[str]:
    out = []
    for message in messages:
        if message.WhichOneof("chunk") == "delta":
            out.append(message.delta.content)
        elif message.WhichOneof("chunk") == "delta_batch":
            out.extend(d.content for d in message.delta_batch.deltas)
    return out


async def test_deltas_that_queue_while_the_router_is_behind_go_out_together(
    make_router: Any, upstream: FakeUpstream
) -> None:
    # The router's event loop busy (as with many streams at once: here a task that holds it
    # 5 ms at a time): its hand-overs take long, it reads ahead, and the pieces the upstream
    # sent at once go out in batches, in order.
    pieces = [f"{i:02d} " for i in range(40)]
    upstream.set("m", Behavior(raw_body=burst(pieces)))
    _, stub = await make_router((model("m", "oai"),), ("m",))

    async with busy_loop():
        messages = await relayed(stub, accepts=True)

    kinds = [m.WhichOneof("chunk") for m in messages]
    assert kinds[0] == "start"
    assert kinds[-1] == "summary"
    assert "delta_batch" in kinds
    assert texts(messages) == pieces


async def test_a_caller_that_leaves_while_the_router_reads_ahead_stops_the_upstream(
    make_router: Any, upstream: FakeUpstream, fake_metrics: tuple[FakeMetrics, Any]
) -> None:
    # Behind (busy loop), so the stream is read ahead in a task of its own: the caller's
    # cancel still closes the upstream stream and bills the attempt as cancelled.
    # 200 pieces of 10 characters, 20 ms apart: 4 s of stream, left after 10 pieces.
    upstream.set("m", Behavior(text="x" * 2000, chunks=200, chunk_delay_s=0.02))
    _, stub = await make_router((model("m", "oai"),), ("m",))
    chat = chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")])
    async with busy_loop():
        call = stub.StreamComplete(
            router_service_pb2.StreamCompleteRequest(chat=chat, accepts_delta_batches=True)
        )
        received = 0
        async for message in call:
            received += len(texts([message]))
            if received >= 10:
                break
        call.cancel()
        await upstream.wait_disconnects(1, within_s=3.0)
    records = fake_metrics[0].records
    await wait_for(lambda: len(records) == 1)
    (record,) = records.values()
    assert record.error_type == "CANCELLED"
    assert record.completion_tokens >= 1  # what was relayed, estimated


async def test_a_batch_too_large_to_send_goes_out_one_delta_at_a_time(
    make_router: Any, upstream: FakeUpstream
) -> None:
    # Forty pieces of 3,000 characters: each fits the 16 KiB send limit, together they do not.
    pieces = [f"{i:02d}" + "y" * 2998 for i in range(40)]
    upstream.set("m", Behavior(raw_body=burst(pieces)))
    limit = 16 * 1024
    _, stub = await make_router(
        (model("m", "oai"),), ("m",), max_response_bytes=limit, max_receive_message_bytes=limit
    )

    async with busy_loop():
        messages = await relayed(stub, accepts=True)

    assert texts(messages) == pieces
    assert all(m.ByteSize() <= limit for m in messages)
    assert messages[-1].WhichOneof("chunk") == "summary"


async def test_a_caller_from_before_batches_gets_one_message_per_delta(
    make_router: Any, upstream: FakeUpstream
) -> None:
    pieces = [f"{i:02d} " for i in range(40)]
    upstream.set("m", Behavior(raw_body=burst(pieces)))
    _, stub = await make_router((model("m", "oai"),), ("m",))

    async with busy_loop():  # behind, as above
        messages = await relayed(stub, accepts=False)

    assert [m.WhichOneof("chunk") for m in messages] == [
        "start",
        *["delta"] * len(pieces),
        "summary",
    ]
    assert texts(messages) == pieces


async def test_a_lone_delta_goes_out_while_the_upstream_is_silent(
    make_router: Any, upstream: FakeUpstream
) -> None:
    # Pieces a minute apart: the first must not wait for company.
    upstream.set("m", Behavior(chunks=3, chunk_delay_s=60.0))
    _, stub = await make_router((model("m", "oai"),), ("m",))
    chat = chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")])
    call = stub.StreamComplete(
        router_service_pb2.StreamCompleteRequest(chat=chat, accepts_delta_batches=True)
    )
    async with asyncio.timeout(5):
        assert (await call.read()).WhichOneof("chunk") == "start"
        first = await call.read()
    assert first.WhichOneof("chunk") == "delta"
    assert first.delta.content
    call.cancel()


async def _source(
    items: list[int], gate: asyncio.Event | None = None, log: list[str] | None = None
) -> AsyncGenerator[int, None]:
    try:
        for item in items:
            yield item
        if gate is not None:
            await gate.wait()
            yield -1
    finally:
        if log is not None:
            log.append("closed")


async def test_items_go_one_by_one_while_the_caller_keeps_up() -> None:
    # However loaded the machine, a hand-over never takes a second here.
    relay = batches(_source([1, 2, 3]), behind_s=1.0)
    assert [batch async for batch in relay] == [[1], [2], [3]]


async def test_once_behind_what_queued_comes_together_and_a_lone_item_at_once() -> None:
    gate = asyncio.Event()
    relay = batches(_source([1, 2, 3], gate), behind_s=0.001)
    async with asyncio.timeout(2):
        assert await anext(relay) == [1]
        await asyncio.sleep(0.01)  # a slow hand-over: behind from now on
        assert await anext(relay) == [2, 3]  # read meanwhile
        waiting = asyncio.ensure_future(anext(relay))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # nothing held: the source is waiting
        gate.set()
        assert await waiting == [-1]
        with pytest.raises(StopAsyncIteration):
            await anext(relay)


@pytest.mark.parametrize("behind", [False, True])
async def test_closing_the_batches_closes_the_source_first(behind: bool) -> None:
    log: list[str] = []
    relay = batches(_source([1, 2], asyncio.Event(), log), behind_s=0.001)
    assert await anext(relay) == [1]
    if behind:
        await asyncio.sleep(0.01)
        assert await anext(relay) == [2]  # the reader task now waits on the gate
    await relay.aclose()
    assert log == ["closed"]


@pytest.mark.parametrize("behind", [False, True])
async def test_a_failure_comes_after_the_items_before_it(behind: bool) -> None:
    async def failing() -> AsyncGenerator[int, None]:
        yield 1
        yield 2
        raise RuntimeError("upstream broke")

    relay = batches(failing(), behind_s=0.001)
    assert await anext(relay) == [1]
    if behind:
        await asyncio.sleep(0.01)
    assert await anext(relay) == [2]
    with pytest.raises(RuntimeError, match="upstream broke"):
        await anext(relay)


async def test_the_reader_waits_when_the_caller_falls_behind() -> None:
    produced: list[int] = []

    async def counting() -> AsyncGenerator[int, None]:
        for item in range(10):
            produced.append(item)
            yield item

    relay = batches(counting(), max_pending=4, behind_s=0.001)
    assert await anext(relay) == [0]
    await asyncio.sleep(0.01)
    assert await anext(relay) == [1, 2, 3, 4]
    assert produced == [0, 1, 2, 3, 4]
    rest = [item async for batch in relay for item in batch]
    assert rest == list(range(5, 10))


async def _reads(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        # Several events in one read, and one split across reads, mid-line and mid-CRLF.
        ((b"data: a\n\ndata: b\n\nda", b"ta: c\r", b"\n\r\n"), ["a", "b", "c"]),
        # CR alone ends a line too; comments, event names and ids carry no data.
        ((b": ping\revent: x\rid: 1\rdata:d\r\r",), ["d"]),
        # A last line without its line break counts.
        ((b"data: [DONE]",), ["[DONE]"]),
        # Bytes that are not UTF-8 read as U+FFFD, as a text decoder would.
        ((b'data: {"c":"\xff"}\n\n',), ['{"c":"\ufffd"}']),
    ],
)
async def test_sse_payloads(parts: tuple[bytes, ...], expected: list[str]) -> None:
    assert [p async for p in payloads(_reads(*parts), "sse")] == expected


async def test_ndjson_payloads_skip_blank_lines() -> None:
    lines = [
        p async for p in payloads(_reads(b'{"a":1}\n\n{"b"', b":2}\r\n", b'{"c":3}'), "ndjson")
    ]
    assert lines == ['{"a":1}', '{"b":2}', '{"c":3}']
