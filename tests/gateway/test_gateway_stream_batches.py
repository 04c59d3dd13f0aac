"""Deltas the router sends as one ``delta_batch`` message (StreamCompleteRequest
``accepts_delta_batches``, which the gateway sets): the client sees each as its own
``chat.completion.chunk``, exactly as if they had come one message each, and a resumed stream
counts each of them."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import orjson
import pytest

from gateway.translate.chat_response import ChunkStream, sse_bytes
from llmrouter.v1 import chat_pb2, router_service_pb2

from .support import (
    Failure,
    FakeRouter,
    delta,
    delta_batch,
    start_message,
    summary,
    text_stream,
)

CHAT = "/v1/chat/completions"
LOST = Failure(grpc.StatusCode.UNAVAILABLE, "Socket closed", rich=False)


def body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "auto",
        "messages": [{"role": "user", "content": "Say hello"}],
        "stream": True,
        **extra,
    }


def comparable(text: str) -> list[Any]:
    """The SSE payloads, decoded, without ``created`` (the gateway's clock)."""
    payloads = [e.removeprefix("data: ") for e in text[:-2].split("\n\n")]
    chunks = [p if p == "[DONE]" else orjson.loads(p) for p in payloads]
    for chunk in chunks:
        if isinstance(chunk, dict):
            chunk.pop("created", None)
    return chunks


@pytest.mark.parametrize("include_usage", [False, True])
async def test_a_batch_reads_as_the_same_chunks_as_single_deltas(
    client: httpx.AsyncClient, router: FakeRouter, include_usage: bool
) -> None:
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    single = await client.post(CHAT, json=body(**extra))
    router.stream_messages = [start_message(), delta_batch("Hel", "lo"), delta("!"), summary()]

    batched = await client.post(CHAT, json=body(**extra))

    assert batched.status_code == 200
    assert comparable(batched.text) == comparable(single.text)
    assert router.accepts_batches == [True, True]


async def test_a_resumed_stream_counts_every_delta_of_a_batch(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.stream_messages = [start_message(), delta_batch("Hel", "lo"), delta("!"), summary()]
    router.failure, router.fail_after, router.failing_streams = LOST, 2, 1  # after "Hello"

    response = await client.post(CHAT, json=body(max_tokens=10))

    assert comparable(response.text)[-1] == "[DONE]"
    _, again = router.requests
    assert again.messages[-1] == chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, content="Hello")
    assert again.max_tokens == 8  # two deltas sent
    assert router.accepts_batches == [True, True]


def _messages() -> list[router_service_pb2.StreamCompleteResponse]:
    tier = router_service_pb2.StreamCompleteResponse(
        delta=router_service_pb2.StreamDelta(content="tier", service_tier="flex")
    )
    refusal = router_service_pb2.StreamCompleteResponse(
        delta=router_service_pb2.StreamDelta(refusal="no")
    )
    call = router_service_pb2.StreamCompleteResponse(
        delta=router_service_pb2.StreamDelta(
            tool_calls=[router_service_pb2.ToolCallDelta(index=0, id="c", name="f")]
        )
    )
    quoted = delta('"quoted" \\ \n \u2028 \x00 é 🙂')
    thinking = router_service_pb2.StreamCompleteResponse(
        delta=router_service_pb2.StreamDelta(content="so", reasoning_content="hmm")
    )
    return [
        start_message(),
        *text_stream()[1:-1],
        delta_batch("a", "b", ""),
        tier,
        delta_batch("after", "tier"),
        quoted,
        thinking,
        refusal,
        call,
        summary(),
    ]


@pytest.mark.parametrize("include_usage", [False, True])
def test_sse_bytes_are_those_of_the_chunks(include_usage: bool) -> None:
    # The text-delta template gives the bytes the chunk objects encode to, whatever the text
    # and whatever service tier came before it.
    fast = ChunkStream(request_id="r", model="auto", include_usage=include_usage)
    plain = ChunkStream(request_id="r", model="auto", include_usage=include_usage)
    plain._created = fast._created  # the same second, however slow the test
    for message in _messages():
        expected = b"".join(sse_bytes(chunk) for chunk in plain.feed(message))
        assert fast.sse(message) == expected
    assert (fast.text, fast.deltas) == (plain.text, plain.deltas)
