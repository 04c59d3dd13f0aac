"""``POST /v1/messages`` and ``/v1/messages/count_tokens`` against the fake router, over raw
HTTP: what goes to the router, the message JSON, the exact SSE event order and Anthropic's
error bodies (API reference, "Messages", "Streaming Messages", "Errors")."""

from __future__ import annotations

import json
from typing import Any

import grpc
import httpx
import pytest

from llmrouter.v1 import chat_pb2, router_service_pb2

from .support import (
    TEST_KEY,
    Failure,
    FakeRouter,
    delta,
    start_message,
    summary,
    text_response,
    tool_call_response,
    tool_call_stream,
)

ANTHROPIC = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}


def body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "sim-small",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hello"}],
        **extra,
    }


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE event; the name must match the data's type."""
    out = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        out.append((lines["event"], data))
    return out


async def test_a_message_reaches_the_router_translated(gateway: Any, router: FakeRouter) -> None:
    request = body(
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Use the tool.", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "P"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": "boom",
                        "is_error": True,
                    },
                    {"type": "text", "text": "And now?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                    },
                ],
            },
        ],
        tools=[{"name": "weather", "description": "d", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        stop_sequences=["END", "STOP"],
        temperature=0.5,
        top_p=0.9,
        metadata={"user_id": "u-1"},
        thinking={"type": "disabled"},
        service_tier="standard_only",
    )
    async with httpx.AsyncClient(base_url=gateway.url, headers=ANTHROPIC) as http:
        response = await http.post("/v1/messages", json=request)
    assert response.status_code == 200, response.text
    chat = router.requests[-1]
    assert chat.front_door == "messages"
    assert chat.max_tokens == 100
    roles = [m.role for m in chat.messages]
    assert roles == [
        chat_pb2.ROLE_SYSTEM,
        chat_pb2.ROLE_USER,
        chat_pb2.ROLE_ASSISTANT,
        chat_pb2.ROLE_TOOL,
        chat_pb2.ROLE_USER,
    ]
    system, _, assistant, tool, user = chat.messages
    assert system.content_parts[0].text == "Be brief."
    assert system.content_parts[0].cache_control.type == "ephemeral"
    assert [p.text for p in assistant.content_parts] == ["Checking."]
    assert assistant.tool_calls[0].id == "tu_1"
    assert json.loads(assistant.tool_calls[0].arguments) == {"city": "P"}
    assert (tool.tool_call_id, tool.content, tool.is_error) == ("tu_1", "boom", True)
    assert user.content_parts[0].text == "And now?"
    assert user.content_parts[1].image_url == "data:image/png;base64,AAAA"
    assert chat.tools[0].name == "weather"
    assert json.loads(chat.tools[0].parameters_json) == {"type": "object"}
    assert chat.tool_choice.mode == chat_pb2.TOOL_CHOICE_MODE_REQUIRED
    assert chat.parallel_tool_calls is False
    assert list(chat.stops) == ["END", "STOP"]
    assert (chat.temperature, chat.top_p, chat.user) == (0.5, 0.9, "u-1")
    assert chat.service_tier == "default"


async def test_the_answer_is_a_message(client: httpx.AsyncClient, router: FakeRouter) -> None:
    router.complete_response = text_response("Hi!")
    router.complete_response.reasoning_content = "Greet back."
    response = await client.post("/v1/messages", json=body())
    assert response.status_code == 200
    assert response.headers["request-id"] == response.headers["x-request-id"] == "req-1"
    assert response.json() == {
        "id": "msg_req-1",
        "type": "message",
        "role": "assistant",
        "model": router.complete_response.model,
        "content": [
            {"type": "thinking", "thinking": "Greet back.", "signature": ""},
            {"type": "text", "text": "Hi!"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        # 12 prompt tokens, 4 read from the cache and 1 written: 7 others.
        "usage": {
            "input_tokens": 7,
            "output_tokens": 5,
            "cache_creation_input_tokens": 1,
            "cache_read_input_tokens": 4,
        },
    }


async def test_a_tool_call_is_a_tool_use_block(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.complete_response = tool_call_response()
    response = await client.post("/v1/messages", json=body())
    answer = response.json()
    assert answer["stop_reason"] == "tool_use"
    call = router.complete_response.message.tool_calls[0]
    assert answer["content"][-1] == {
        "type": "tool_use",
        "id": call.id,
        "name": call.name,
        "input": json.loads(call.arguments),
    }


async def test_the_stream_sends_anthropics_events_in_order(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.stream_messages = [
        start_message(),
        router_service_pb2.StreamCompleteResponse(
            delta=router_service_pb2.StreamDelta(reasoning_content="Hmm.")
        ),
        delta("Hel"),
        delta("lo"),
        *tool_call_stream()[1:-1],
        summary(chat_pb2.FINISH_REASON_TOOL_CALLS),
    ]
    response = await client.post("/v1/messages", json=body(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"] == "req-s"
    got = events(response.text)
    names = [name for name, _ in got]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = got[0][1]["message"]
    assert (start["id"], start["model"], start["content"]) == ("msg_req-s", "sim-small", [])
    blocks = [data["content_block"] for name, data in got if name == "content_block_start"]
    assert blocks == [
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "text", "text": ""},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}},
    ]
    deltas = [(d["index"], d["delta"]) for name, d in got if name == "content_block_delta"]
    assert deltas == [
        (0, {"type": "thinking_delta", "thinking": "Hmm."}),
        (1, {"type": "text_delta", "text": "Hel"}),
        (1, {"type": "text_delta", "text": "lo"}),
        (2, {"type": "input_json_delta", "partial_json": '{"city":'}),
        (2, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
    ]
    assert got[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "input_tokens": 7,
            "output_tokens": 5,
            "cache_creation_input_tokens": 1,
            "cache_read_input_tokens": 4,
        },
    }


async def test_a_failure_mid_stream_is_an_error_event(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(grpc.StatusCode.UNAVAILABLE, "every model failed", reason="ALL_FAILED")
    router.fail_after = 2
    response = await client.post("/v1/messages", json=body(stream=True))
    got = events(response.text)
    assert [name for name, _ in got][-1] == "error"
    error = got[-1][1]
    assert error["error"] == {"type": "overloaded_error", "message": "every model failed"}
    assert "message_stop" not in [name for name, _ in got]


@pytest.mark.parametrize(
    ("failure", "status", "kind"),
    [
        (
            Failure(grpc.StatusCode.NOT_FOUND, "no model 'x'", reason="MODEL_NOT_FOUND"),
            404,
            "not_found_error",
        ),
        (
            Failure(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "slow down",
                reason="RATE_LIMITED",
                retry_after=3,
            ),
            429,
            "rate_limit_error",
        ),
        (
            Failure(grpc.StatusCode.UNAVAILABLE, "all failed", reason="ALL_FAILED"),
            529,
            "overloaded_error",
        ),
        (Failure(grpc.StatusCode.INTERNAL, "secret detail", reason="BUG"), 500, "api_error"),
        (
            Failure(grpc.StatusCode.INVALID_ARGUMENT, "bad", reason="X", field="chat.model"),
            400,
            "invalid_request_error",
        ),
    ],
)
async def test_router_errors_in_anthropics_shape(
    client: httpx.AsyncClient, router: FakeRouter, failure: Failure, status: int, kind: str
) -> None:
    failure.request_id = "rid-7"
    router.failure = failure
    response = await client.post("/v1/messages", json=body())
    assert response.status_code == status
    answer = response.json()
    assert answer["type"] == "error"
    assert answer["error"]["type"] == kind
    assert "secret" not in answer["error"]["message"]
    assert answer["request_id"] == response.headers["request-id"] == "rid-7"


async def test_a_wrong_key_is_an_authentication_error(gateway: Any) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.post("/v1/messages", json=body(), headers={"x-api-key": "nope"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.headers["request-id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"top_k": 5}, "top_k"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2000}}, "thinking"),
        ({"bogus": 1}, "bogus"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "document"}]}]},
            "messages[0].content[0].type",
        ),
        ({"tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name"),
        ({"temperature": 1.5}, "temperature"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
        ({"llmrouter": {"min_quality": 2}}, "llmrouter.min_quality"),
    ],
)
async def test_bad_requests_are_400_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], param: str
) -> None:
    request = {k: v for k, v in {**body(), **change}.items() if v is not None}
    response = await client.post("/v1/messages", json=request)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert param in error["message"]


async def test_count_tokens_is_the_routers_estimate(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.route_response.estimated_prompt_tokens = 42
    request = body()
    del request["max_tokens"]
    response = await client.post("/v1/messages/count_tokens", json=request)
    assert response.status_code == 200
    assert response.json() == {"input_tokens": 42}
    assert router.requests[-1].front_door == "messages"


async def test_both_doors_answer_without_v1(client: httpx.AsyncClient) -> None:
    assert (await client.post("/messages", json=body())).status_code == 200
    request = body()
    assert (await client.post("/messages/count_tokens", json=request)).status_code == 200
