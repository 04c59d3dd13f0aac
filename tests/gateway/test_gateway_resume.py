"""Resuming a stream whose router went away mid-relay (gateway.resume), against the fake router
over a real gRPC channel. A replica that died looks to the gateway like UNAVAILABLE without any
status of the router's own: the fake produces that shape with a bare abort (``rich=False``).
The kill itself, with real processes, is tests/reliability/test_replica_kill.py."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import orjson

from gateway.resume import MAX_RESUMPTIONS
from llmrouter.v1 import chat_pb2, router_service_pb2

from .support import Failure, FakeRouter, delta, start_message, summary, tool_call_stream

CHAT = "/v1/chat/completions"
# What a connection lost mid-stream looks like: no ErrorInfo, no pushback.
LOST = Failure(grpc.StatusCode.UNAVAILABLE, "Socket closed", rich=False)


def body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "auto",
        "messages": [{"role": "user", "content": "Say hello"}],
        "stream": True,
        **extra,
    }


def events(text: str) -> list[Any]:
    """The SSE payloads, decoded ("[DONE]" as is)."""
    assert text.endswith("\n\n")
    payloads = [e.removeprefix("data: ") for e in text[:-2].split("\n\n")]
    return [p if p == "[DONE]" else orjson.loads(p) for p in payloads]


def text_of(chunks: list[Any]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in chunks
        if isinstance(c, dict) and c.get("choices")
    )


async def test_a_lost_router_is_resumed_with_the_text_so_far(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure, router.fail_after, router.failing_streams = LOST, 2, 1  # after "Hel"

    response = await client.post(CHAT, json=body(max_tokens=10))

    chunks = events(response.text)
    assert chunks[-1] == "[DONE]"
    # The fake streams its whole text again: the gateway relays what the router sends.
    assert text_of(chunks) == "Hel" + "Hello!"
    assert {c["id"] for c in chunks[:-1]} == {"chatcmpl-req-s"}  # one id
    assert sum(c["choices"][0]["finish_reason"] is not None for c in chunks[:-1]) == 1
    first, again = router.requests
    assert first.model == "auto"
    assert not first.continue_final_message
    # The model that was streaming continues the text the client has.
    assert again.model == "sim-small"
    assert again.continue_final_message
    assert list(again.messages[:-1]) == list(first.messages)
    assert again.messages[-1] == chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, content="Hel")
    assert again.max_tokens == 9  # one delta sent


async def test_resumptions_are_bounded_and_the_error_is_in_band(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure, router.fail_after = LOST, 2  # every replica goes away after one delta

    response = await client.post(CHAT, json=body())

    chunks = events(response.text)
    assert "[DONE]" not in chunks
    assert chunks[-1]["error"]["type"] == "service_unavailable_error"
    assert len(router.requests) == 1 + MAX_RESUMPTIONS
    assert [m.messages[-1].content for m in router.requests[1:]] == ["Hel", "HelHel"]


async def test_errors_the_router_answers_and_tool_calls_are_not_resumed(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    # The router's own interruption (ErrorInfo): it already tried to continue.
    router.failure = Failure(
        grpc.StatusCode.UNAVAILABLE, "a failed after 1 chunks", reason="STREAM_INTERRUPTED"
    )
    router.fail_after = 2
    response = await client.post(CHAT, json=body())
    assert events(response.text)[-1]["error"]["code"] == "stream_interrupted"
    assert len(router.requests) == 1

    # A tool call cannot be continued.
    router.failure, router.stream_messages = LOST, tool_call_stream()
    response = await client.post(CHAT, json=body())
    assert "error" in events(response.text)[-1]
    assert len(router.requests) == 2


async def test_reasoning_sent_is_not_continued_as_text(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    thought = router_service_pb2.StreamCompleteResponse(
        delta=router_service_pb2.StreamDelta(reasoning_content="Greet back.")
    )
    router.stream_messages = [start_message(), thought, delta("Hel"), delta("lo!"), summary()]
    router.failure, router.fail_after, router.failing_streams = LOST, 3, 1  # after "Hel"

    response = await client.post(CHAT, json=body(max_tokens=10))

    chunks = events(response.text)
    assert chunks[-1] == "[DONE]"
    reasoning = [
        c["choices"][0]["delta"].get("reasoning_content")
        for c in chunks
        if isinstance(c, dict) and c.get("choices")
    ]
    # The client has the reasoning of both calls, and one answer.
    assert [r for r in reasoning if r] == ["Greet back.", "Greet back."]
    assert text_of(chunks) == "Hel" + "Hello!"
    # The resumed call continues the text alone; each delta sent counted one token.
    again = router.requests[1]
    assert again.messages[-1] == chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, content="Hel")
    assert again.max_tokens == 8
