"""``ChatRequest.extra_body_json`` (issue 16) through a real router over gRPC, against the
fake upstream recording each body: only the keys a provider's ``extra_body_keys`` lists are
sent, never one the router owns; a model whose provider does not take them is skipped; an
upstream error quoting client text from extras, a response schema or tool parameters does not
carry it further. One router, scenarios in a row."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import ProviderConfig, RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import model

USER = chat_pb2.Message(role=chat_pb2.ROLE_USER, content="Weather in Paris?")
SECRET = "the merger closes on 3 March at 41.20 a share"


def providers(upstream: FakeUpstream) -> tuple[ProviderConfig, ...]:
    return (
        ProviderConfig(
            name="vllm",
            kind="openai",
            base_url=f"{upstream.base_url}/v1",
            extra_body_keys=("top_k", "documents", "chat_template_kwargs"),
        ),
        ProviderConfig(
            name="anth",
            kind="anthropic",
            base_url=upstream.base_url,
            api_key_env="LLMROUTER_TEST_ANTHROPIC_KEY",
        ),
    )


def chat(extra: dict[str, Any], name: str = "v", **fields: Any) -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model=name, messages=[USER], extra_body_json=json.dumps(extra), **fields
    )


def fields_of(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    found = []
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [v.field for v in bad.field_violations]
    return found


async def test_extras_are_allowlisted_per_provider(
    make_router: Any, upstream: FakeUpstream
) -> None:
    models = (model("v", "vllm", fallbacks=("c",)), model("c", "anth"), model("c2", "anth"))
    _, stub = await make_router(
        models, ("v",), providers=providers(upstream), retry=RetryConfig(attempts_per_model=1)
    )

    # 1. An allowed key reaches vLLM; the Anthropic fallback is skipped for this request
    # (it takes no extras) rather than sent vLLM's.
    await stub.Complete(router_service_pb2.CompleteRequest(chat=chat({"top_k": 40})))
    assert upstream.requests[-1].json["top_k"] == 40
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=chat({"top_k": 40})))
    assert [c.model for c in decision.candidates] == ["v"]
    missing = router_service_pb2.SKIP_REASON_MISSING_CAPABILITY
    assert {(s.model, s.reason) for s in decision.skipped_models} == {("c", missing)}
    upstream.set("v", Behavior(status=503))
    before = len(upstream.requests)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat({"top_k": 40})))
    assert [r.model for r in upstream.requests[before:]] == ["v"]
    upstream.set("v", Behavior())

    # 2. The reviewer's input and two neighbours: keys the router owns are refused even where
    # the provider lists others, and a key it does not list; nothing is sent.
    before = len(upstream.requests)
    for extra, key in (
        ({"add_generation_prompt": True, "n": 3, "max_tokens": 100000}, "add_generation_prompt"),
        ({"n": 3}, "n"),
        ({"max_tokens": 100000}, "max_tokens"),
        ({"models": ["gpt-4o"], "route": "fallback"}, "models"),
        ({"provider": {"order": ["x"]}}, "provider"),
        ({"api_base": "http://elsewhere"}, "api_base"),
        ({"repetition_penalty": 1.1}, "repetition_penalty"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Complete(
                router_service_pb2.CompleteRequest(chat=chat(extra, max_completion_tokens=50))
            )
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert fields_of(info.value) == [f"chat.extra_body.{key}"]
    # An Anthropic model named with any extra: refused, naming the key.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat({"top_k": 1}, "c2")))
    assert fields_of(info.value) == ["chat.extra_body.top_k"]
    assert len(upstream.requests) == before


async def test_a_stream_reads_only_the_first_choice(
    make_router: Any, upstream: FakeUpstream
) -> None:
    # An OpenAI-compatible server that answers two choices anyway ("n" in the Chat
    # Completions API reference: each chunk's choices carry their "index").
    _, stub = await make_router((model("v", "vllm"),), ("v",), providers=providers(upstream))
    events = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Sunny"}}]},
        {"choices": [{"index": 1, "delta": {"role": "assistant", "content": "Rainy"}}]},
        {"choices": [{"index": 0, "delta": {"content": " all day."}, "finish_reason": None}]},
        {"choices": [{"index": 1, "delta": {"content": " at noon."}, "finish_reason": "stop"}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}},
    ]
    body = "".join(f"data: {json.dumps({'id': 'x', 'model': 'v', **e})}\n\n" for e in events)
    upstream.set("v", Behavior(raw_body=(body + "data: [DONE]\n\n").encode()))
    text = ""
    request = router_service_pb2.StreamCompleteRequest(chat=chat({}))
    async for chunk in stub.StreamComplete(request):
        if chunk.WhichOneof("chunk") == "delta":
            text += chunk.delta.content
    assert text == "Sunny all day."


async def test_upstream_errors_never_quote_client_json(
    make_router: Any, upstream: FakeUpstream
) -> None:
    _, stub = await make_router(
        (model("v", "vllm", json_mode=True),),
        ("v",),
        providers=providers(upstream),
        retry=RetryConfig(attempts_per_model=1),
    )
    schema = {"name": "s", "schema": {"type": "object", "description": SECRET}}
    tool = chat_pb2.Tool(
        name="lookup",
        parameters_json=json.dumps({"type": "object", "properties": {"q": {"enum": [SECRET]}}}),
    )
    json_schema = chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA
    leaked = []
    for source, request in (
        ("extras", chat({"documents": [{"title": "q3", "text": SECRET}]})),
        (
            "schema",
            chat(
                {},
                response_format=chat_pb2.ResponseFormat(
                    type=json_schema, json_schema=json.dumps(schema)
                ),
            ),
        ),
        ("tool parameters", chat({}, tools=[tool])),
    ):
        # vLLM's 400 echoes the input it could not take.
        upstream.set("v", Behavior(status=400, error_message=f"bad input: {SECRET!r}"))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Complete(router_service_pb2.CompleteRequest(chat=request))
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, source
        assert "bad input" in (info.value.details() or ""), source
        seen = f"{info.value.details()} {info.value.trailing_metadata()!r}"
        if SECRET[:16] in seen:
            leaked.append(source)
    assert leaked == []
