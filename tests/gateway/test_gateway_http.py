"""The gateway over real HTTP, in front of a fake router on a real gRPC server."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import GatewayConfig
from llmrouter.v1 import chat_pb2

from .support import (
    AUTH,
    CREATED,
    Failure,
    FakeRouter,
    StartGateway,
    tool_call_response,
    tool_call_stream,
)

CHAT = "/v1/chat/completions"
# OpenAI's usage object (API reference, "The chat completion object"): the cached and
# reasoning parts in their detail objects; a cache write has no field there.
USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}


def body(**extra: Any) -> dict[str, Any]:
    """A minimal valid chat request plus ``extra`` fields."""
    return {"model": "auto", "messages": [{"role": "user", "content": "Say hello"}], **extra}


def sse_data(text: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order; checks the framing on the way."""
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(e.startswith("data: ") for e in events), events
    return [e.removeprefix("data: ") for e in events]


async def test_completion_has_openai_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(CHAT, json=body())

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "id": "chatcmpl-req-1",
        "object": "chat.completion",
        "created": CREATED,
        "model": "sim-small",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there!", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


async def test_completion_headers_say_who_served(client: httpx.AsyncClient) -> None:
    response = await client.post(CHAT, json=body(), headers={"x-request-id": "abc-123"})

    assert response.headers["x-llmrouter-model"] == "sim-small"
    assert response.headers["x-llmrouter-provider"] == "simulated"
    assert response.headers["x-llmrouter-attempts"] == "2"
    assert response.headers["x-llmrouter-fallback"] == "true"
    # The router's id for the request (what its usage rows carry), and the client's beside it.
    assert response.headers["x-request-id"] == "req-1"
    assert response.headers["x-client-request-id"] == "abc-123"


async def test_the_client_request_id_is_only_a_label_for_the_router(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.complete_response.id = "0190f3a1b2c3d4e5f60718293a4b5c6d"
    response = await client.post(CHAT, json=body(), headers={"x-request-id": "mine-1"})

    assert router.requests[0].client_request_id == "mine-1"
    assert response.headers["x-request-id"] == "0190f3a1b2c3d4e5f60718293a4b5c6d"
    assert response.json()["id"] == "chatcmpl-0190f3a1b2c3d4e5f60718293a4b5c6d"


@pytest.mark.parametrize(
    "given",
    ["bad id\twith tab", "a" * 129, "quote'd", "ünicode"],
    ids=["tab", "129-chars", "quote", "non-ascii"],
)
async def test_an_unusable_x_request_id_is_a_400_naming_the_header(
    client: httpx.AsyncClient, router: FakeRouter, given: str
) -> None:
    response = await client.post(
        CHAT, json=body(), headers=[("x-request-id", given.encode("utf-8"))]
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("x-request-id", "invalid_request_id")
    assert "X-Request-Id" in error["message"]
    assert len(response.headers["x-request-id"]) == 32  # the gateway's own id
    assert router.requests == []  # never reached the router


async def test_a_failed_request_answers_with_the_id_the_router_gave_it(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(
        grpc.StatusCode.UNAVAILABLE,
        "all 2 attempts failed",
        reason="ALL_CANDIDATES_FAILED",
        request_id="0190f3a1b2c3d4e5f60718293a4b5c6d",
    )

    response = await client.post(CHAT, json=body(), headers={"x-request-id": "mine-2"})

    assert response.status_code == 503
    assert response.headers["x-request-id"] == "0190f3a1b2c3d4e5f60718293a4b5c6d"
    assert response.headers["x-client-request-id"] == "mine-2"


async def test_a_stream_answers_with_the_id_the_router_gave_it(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    response = await client.post(CHAT, json=body(stream=True), headers={"x-request-id": "mine-3"})

    assert response.headers["x-request-id"] == "req-s"  # the fake router's StreamStart id
    assert response.headers["x-client-request-id"] == "mine-3"
    assert router.requests[0].client_request_id == "mine-3"


async def test_fields_reach_the_router_translated(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    request = body(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0.2,
        max_tokens=64,
        stop="END",
        metadata={"team": "search"},
        llmrouter={"category": "code", "preferences": {"cost": 1}, "task_type": "qa"},
    )

    response = await client.post(CHAT, json=request, headers={"x-llmrouter-source": "wt-7"})

    assert response.status_code == 200
    chat = router.requests[0]
    assert [m.role for m in chat.messages] == [
        chat_pb2.ROLE_SYSTEM,
        chat_pb2.ROLE_USER,
        chat_pb2.ROLE_ASSISTANT,
        chat_pb2.ROLE_TOOL,
    ]
    assert chat.messages[2].tool_calls[0].arguments == '{"city":"Paris"}'
    assert chat.messages[3].tool_call_id == "call_1"
    assert chat.tools[0].parameters_json == (
        '{"type":"object","properties":{"city":{"type":"string"}}}'
    )
    assert chat.tool_choice.function_name == "get_weather"
    assert chat.temperature == pytest.approx(0.2)
    assert chat.max_tokens == 64
    assert list(chat.stops) == ["END"]
    assert dict(chat.metadata) == {"team": "search"}
    assert chat.routing.category == "code"
    assert chat.routing.preferences.cost == 1
    assert chat.routing.task_type == "qa"
    assert chat.caller.source == "wt-7"


@pytest.mark.parametrize("key", ["top_k", "x_client_hint", "foo"])
async def test_an_unknown_top_level_field_is_400_naming_it(
    client: httpx.AsyncClient, router: FakeRouter, key: str
) -> None:
    # The openai SDK's extra_body={"top_k": 40} lands at the top level: OpenAI answers 400
    # ("Unrecognized request argument supplied"), and so do we, pointing at our extras field.
    response = await client.post(CHAT, json=body(**{key: 40}))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == key
    assert error["message"].startswith(f"Unrecognized request argument supplied: '{key}'.")
    assert "llmrouter.extra_body" in error["message"]
    assert router.requests == []


async def test_image_detail_reaches_the_router(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}}
    response = await client.post(CHAT, json=body(messages=[{"role": "user", "content": [image]}]))

    assert response.status_code == 200
    part = router.requests[0].messages[0].content_parts[0]
    assert (part.image_url, part.detail) == ("https://x.test/a.png", "low")


async def test_router_call_carries_the_configured_deadline(
    start_gateway: StartGateway, router: FakeRouter
) -> None:
    gateway = await start_gateway(request_timeout_s=7.0)
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        await http.post(CHAT, json=body())

    remaining = router.time_remaining[0]
    assert remaining is not None
    # Over a connection already open (the gateway asks for virtual keys at start), the call
    # arrives within a millisecond; gRPC's timeout header and the server's cached clock then
    # read a few milliseconds over the 7 s given.
    assert 5.0 < remaining <= 7.05


async def test_tool_calls_come_back_in_openai_shape(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.complete_response = tool_call_response()

    response = await client.post(CHAT, json=body())

    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert response.headers["x-llmrouter-fallback"] == "false"
    assert response.headers["x-llmrouter-attempts"] == "1"


# --- streaming ---------------------------------------------------------------------------------


async def test_stream_sends_chunks_in_order_then_done(client: httpx.AsyncClient) -> None:
    response = await client.post(CHAT, json=body(stream=True))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-llmrouter-model"] == "sim-small"
    assert response.headers["x-llmrouter-provider"] == "simulated"
    assert response.headers["x-request-id"]
    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert {c["id"] for c in chunks} == {"chatcmpl-req-s"}
    assert {c["created"] for c in chunks} == {CREATED}
    assert {c["model"] for c in chunks} == {"sim-small"}
    assert all("usage" not in c for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": "Hel"},
        {"content": "lo"},
        {"content": "!"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]


async def test_stream_include_usage_adds_a_usage_chunk(client: httpx.AsyncClient) -> None:
    response = await client.post(
        CHAT, json=body(stream=True, stream_options={"include_usage": True})
    )

    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(d) for d in data[:-1]]
    *content, last = chunks
    assert last["choices"] == []
    assert last["usage"] == USAGE
    assert all(c["usage"] is None for c in content)
    assert content[-1]["choices"][0]["finish_reason"] == "stop"


async def test_stream_translates_tool_call_deltas(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.stream_messages = tool_call_stream()

    response = await client.post(CHAT, json=body(stream=True))

    chunks = [orjson.loads(d) for d in sse_data(response.text)[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ],
    }
    assert deltas[1] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}
    assert deltas[2] == {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_error_mid_stream_ends_with_an_error_event_and_no_done(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(
        grpc.StatusCode.UNAVAILABLE, "upstream dropped the stream", reason="STREAM_INTERRUPTED"
    )
    router.fail_after = 2  # after StreamStart and one delta

    response = await client.post(CHAT, json=body(stream=True))

    assert response.status_code == 200  # the headers were already sent
    data = sse_data(response.text)
    assert "[DONE]" not in data
    assert orjson.loads(data[0])["choices"][0]["delta"]["content"] == "Hel"
    assert orjson.loads(data[-1]) == {
        "error": {
            "message": "upstream dropped the stream",
            "type": "service_unavailable_error",
            "param": None,
            "code": "stream_interrupted",
        }
    }


async def test_error_before_the_stream_starts_is_an_http_error(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", retry_after=3)

    response = await client.post(CHAT, json=body(stream=True))

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["type"] == "rate_limit_error"


async def test_client_disconnect_cancels_the_stream(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.hold_after = 2  # StreamStart and one delta, then stall

    async with client.stream("POST", CHAT, json=body(stream=True)) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                break  # got the first chunk; hang up

    await asyncio.wait_for(router.cancelled.wait(), timeout=5)


async def test_client_disconnect_cancels_a_completion(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.hold = True

    with pytest.raises(httpx.ReadTimeout):
        await client.post(CHAT, json=body(), timeout=httpx.Timeout(5.0, read=0.5))

    await asyncio.wait_for(router.cancelled.wait(), timeout=5)


# --- request errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": 3, "messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "auto", "messages": []}, "messages"),
        (
            body(messages=[{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]),
            "messages[1].role",
        ),
        (body(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
        (body(messages=[{"role": "tool", "content": "x"}]), "messages[0].tool_call_id"),
        (body(temperature=3), "temperature"),
        (body(temperature="hot"), "temperature"),
        (body(max_tokens=0), "max_tokens"),
        (body(stop=["a", "b", "c", "d", "e"]), "stop"),
        (body(tool_choice="sometimes"), "tool_choice"),
        (body(stream="yes"), "stream"),
        (body(llmrouter={"categry": "code"}), "llmrouter.categry"),
    ],
)
async def test_invalid_request_names_the_param(
    client: httpx.AsyncClient, router: FakeRouter, request_body: dict[str, Any], param: str
) -> None:
    response = await client.post(CHAT, json=request_body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert param in error["message"]
    assert router.requests == []  # rejected before reaching the router


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe", b'{"model": "auto",}'])
async def test_malformed_json_is_400(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        CHAT, content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_json_that_is_not_an_object_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(CHAT, json=[body()])

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_oversized_body_is_413(start_gateway: StartGateway, router: FakeRouter) -> None:
    gateway = await start_gateway(max_body_bytes=256)
    big = body(messages=[{"role": "user", "content": "x" * 300}])
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        response = await http.post(CHAT, json=big)

        async def chunked() -> Any:  # no Content-Length: the limit applies while reading
            yield orjson.dumps(big)

        streamed = await http.post(CHAT, content=chunked())
        small = await http.post(CHAT, json=body())

    for rejected in (response, streamed):
        assert rejected.status_code == 413
        error = rejected.json()["error"]
        assert error["code"] == "request_too_large"
        assert error["type"] == "invalid_request_error"
        # The limit, and where an operator raises it.
        assert "the limit of 256 bytes" in error["message"]
        assert "gateway.max_body_bytes" in error["message"]
        assert "LLMROUTER_GATEWAY_MAX_BODY_BYTES" in error["message"]
    length = len(orjson.dumps(big))
    assert response.json()["error"]["message"].startswith(
        f"Request body too large: {length} bytes, more than the limit of 256 bytes."
    )
    assert small.status_code == 200
    assert len(router.requests) == 1


def test_the_default_body_limit_fits_long_context_prompts() -> None:
    """32 MiB: a 1M-token prompt (~4 MB of text) or base64 images fit, with room to spare."""
    assert GatewayConfig().max_body_bytes == 32 * 1024 * 1024


# --- other routes ------------------------------------------------------------------------------


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "auth": "enabled"}


async def test_unknown_route_is_404_in_openai_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nope")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["code"] == "unknown_url"


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.get(CHAT)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_prometheus_metrics_count_requests(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/no-such-path")
    # Parameterised routes count under their template, whatever the parameter and outcome.
    await client.delete("/v1/admin/categories/code")
    await client.delete("/v1/admin/categories/no-such-category")
    await client.post("/v1/admin/models/openrouter/some-model/enabled", json={"enabled": True})
    text = (await client.get("/metrics")).text
    assert (
        'llmrouter_gateway_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    )
    assert 'llmrouter_gateway_requests_total{method="GET",route="other",status="404"} 1.0' in text
    by_route: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "llmrouter_gateway_requests_total":
                key = (sample.labels["method"], sample.labels["route"])
                by_route[key] = by_route.get(key, 0) + sample.value
    assert by_route[("DELETE", "/v1/admin/categories/{name}")] == 2
    assert by_route[("POST", "/v1/admin/models/{name}/enabled")] == 1
    assert "no-such-category" not in text
    assert "some-model" not in text
    assert "llmrouter_gateway_request_duration_seconds_bucket" in text
