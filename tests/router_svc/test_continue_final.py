"""``ChatRequest.continue_final_message`` through a real router over gRPC, against the fake
upstream over HTTP: the final assistant message is continued by a model that can, given as
the prefill as when the router continues a broken stream, and the stream holds only what
follows it; misuse is INVALID_ARGUMENT naming the field. One router, scenarios in a row."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import model

ONE_TRY = RetryConfig(attempts_per_model=1)
# The same 60 pieces on every model, so a continuation can be checked exactly.
WORDS = " ".join(f"w{i:02d}" for i in range(60))
# What a client had received when its stream broke: ends in whitespace, which Anthropic
# refuses in a prefill.
SO_FAR = "w00 w01 w02 "
MODELS = (
    model("a", fallbacks=("e", "b")),  # plain OpenAI cannot continue; "b" (Anthropic) can
    model("b", "anth"),
    model("e"),
)
FIELD = "chat.continue_final_message"

Msg = chat_pb2.Message
USER, ASSISTANT = chat_pb2.ROLE_USER, chat_pb2.ROLE_ASSISTANT


def chat(*messages: chat_pb2.Message, name: str = "b", flag: bool = True) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(model=name, messages=messages, continue_final_message=flag)


def to_continue(text: str = SO_FAR) -> tuple[chat_pb2.Message, chat_pb2.Message]:
    return Msg(role=USER, content="count"), Msg(role=ASSISTANT, content=text)


async def stream(stub: Any, request: chat_pb2.ChatRequest) -> tuple[str, Any]:
    """The text streamed and the summary."""
    text, summary = "", None
    async for chunk in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=request)):
        if chunk.WhichOneof("chunk") == "delta":
            text += chunk.delta.content
        elif chunk.WhichOneof("chunk") == "summary":
            summary = chunk.summary
    return text, summary


def field_violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    fields = []
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


async def test_continue_final_message(make_router: Any, upstream: FakeUpstream) -> None:
    _, stub = await make_router(MODELS, ("a",), retry=ONE_TRY)
    upstream.set(None, Behavior(text=WORDS, chunks=60))

    # 1. The named model continues: its upstream gets the text as a prefill (without the
    # trailing space it refuses), the stream holds only the rest, without a doubled space.
    text, summary = await stream(stub, chat(*to_continue()))
    assert SO_FAR + text == WORDS
    assert [a.model for a in summary.attempts] == ["b"]
    sent = upstream.requests[-1].json
    assert sent["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": SO_FAR.rstrip()}],
    }
    assert summary.usage.completion_tokens > 0

    # 2. A named model that cannot continue is passed over, as is its fallback that cannot;
    # the one that can serves, and the decision says why the others were skipped.
    before = len(upstream.requests)
    text, summary = await stream(stub, chat(*to_continue(), name="a"))
    assert SO_FAR + text == WORDS
    assert [a.model for a in summary.attempts] == ["b"]
    assert [r.model for r in upstream.requests[before:]] == ["b"]
    decision = await stub.Route(
        router_service_pb2.RouteRequest(chat=chat(*to_continue(), name="a"))
    )
    assert [c.model for c in decision.candidates] == ["b"]
    missing = router_service_pb2.SKIP_REASON_MISSING_CAPABILITY
    assert {(s.model, s.reason) for s in decision.skipped_models} == {
        ("a", missing),
        ("e", missing),
    }

    # 3. Misuse: INVALID_ARGUMENT naming the field, nothing sent upstream.
    before = len(upstream.requests)
    call = Msg(role=ASSISTANT, tool_calls=[chat_pb2.ToolCall(id="c1", name="f", arguments="{}")])
    for messages in [
        (Msg(role=USER, content="count"),),  # last message not the assistant's
        (*to_continue(), Msg(role=USER, content="go on")),
        (Msg(role=USER, content="count"), call),  # a tool call cannot be continued
        (Msg(role=ASSISTANT, content=SO_FAR),),  # nothing before it
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stream(stub, chat(*messages))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(info.value) == [FIELD]
    # Complete returns a whole answer: continuing is for streams.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat(*to_continue())))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(info.value) == [FIELD]
    assert len(upstream.requests) == before
