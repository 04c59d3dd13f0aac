"""``POST /v1/responses`` against the fake router, over raw HTTP: what goes to the router, the
response JSON, the exact SSE event order with its sequence numbers, ``response.failed`` mid-
stream and OpenAI's error bodies (API reference, "Create a model response", "The response
object", "Streaming events")."""

from __future__ import annotations

import json
from typing import Any

import grpc
import httpx
import pytest

from llmrouter.v1 import chat_pb2, router_service_pb2

from .support import (
    Failure,
    FakeRouter,
    delta,
    start_message,
    summary,
    text_response,
    tool_call_response,
    tool_call_stream,
)


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "sim-small", "input": "Hello", **extra}


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE event; the name must match the data's type."""
    out = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        out.append((lines["event"], data))
    return out


async def test_a_request_reaches_the_router_translated(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    request = body(
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Use metric units."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather here?"},
                    {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
                ],
            },
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "weather",
                "arguments": '{"city": "P"}',
                "status": "completed",
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
        ],
        tools=[
            {
                "type": "function",
                "name": "weather",
                "description": "d",
                "parameters": {"type": "object"},
                "strict": True,
            }
        ],
        tool_choice={"type": "function", "name": "weather"},
        max_output_tokens=300,
        temperature=0.5,
        top_p=0.9,
        parallel_tool_calls=False,
        text={"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
        reasoning={"effort": "low"},
        metadata={"k": "v"},
        user="u-1",
        store=False,
        llmrouter={"category": "code", "min_quality": 0.75},
    )
    response = await client.post("/v1/responses", json=request)
    assert response.status_code == 200, response.text
    chat = router.requests[-1]
    assert chat.front_door == "responses"
    assert chat.routing.min_quality == 0.75
    assert [m.role for m in chat.messages] == [
        chat_pb2.ROLE_SYSTEM,
        chat_pb2.ROLE_DEVELOPER,
        chat_pb2.ROLE_USER,
        chat_pb2.ROLE_ASSISTANT,
        chat_pb2.ROLE_TOOL,
    ]
    system, developer, user, assistant, tool = chat.messages
    assert (system.content, developer.content) == ("Be brief.", "Use metric units.")
    assert user.content_parts[0].text == "Weather here?"
    assert (user.content_parts[1].image_url, user.content_parts[1].detail) == (
        "https://x/y.png",
        "low",
    )
    # The assistant's text and its call are one turn.
    assert [p.text for p in assistant.content_parts] == ["Checking."]
    assert [(c.id, c.name, c.arguments) for c in assistant.tool_calls] == [
        ("call_1", "weather", '{"city": "P"}')
    ]
    assert (tool.tool_call_id, tool.content) == ("call_1", "Sunny")
    assert (chat.tools[0].name, chat.tools[0].strict) == ("weather", True)
    assert chat.tool_choice.function_name == "weather"
    assert chat.max_completion_tokens == 300
    assert (chat.temperature, chat.top_p, chat.parallel_tool_calls) == (0.5, 0.9, False)
    assert chat.response_format.type == chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA
    assert json.loads(chat.response_format.json_schema) == {
        "name": "w",
        "schema": {"type": "object"},
    }
    assert chat.reasoning_effort == "low"
    assert (dict(chat.metadata), chat.user, chat.routing.category) == ({"k": "v"}, "u-1", "code")
    answer = response.json()
    assert answer["tools"] == request["tools"]
    assert answer["tool_choice"] == request["tool_choice"]
    assert (answer["instructions"], answer["max_output_tokens"], answer["store"]) == (
        "Be brief.",
        300,
        False,
    )
    assert answer["text"] == request["text"]
    assert answer["reasoning"] == {"effort": "low", "summary": None}
    assert answer["metadata"] == {"k": "v"}


async def test_the_answer_is_a_response(client: httpx.AsyncClient, router: FakeRouter) -> None:
    router.complete_response = text_response("Hi!")
    router.complete_response.reasoning_content = "Greet back."
    response = await client.post("/v1/responses", json=body())
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-1"
    answer = response.json()
    assert (answer["id"], answer["object"], answer["status"]) == (
        "resp_req-1",
        "response",
        "completed",
    )
    assert answer["model"] == router.complete_response.model
    assert answer["incomplete_details"] is None
    assert answer["output"] == [
        {
            "id": "rs_req-1",
            "type": "reasoning",
            "status": "completed",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "Greet back."}],
        },
        {
            "id": "msg_req-1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi!", "annotations": [], "logprobs": []}],
        },
    ]
    assert answer["usage"] == {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 1},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 17,
    }


async def test_a_tool_call_is_a_function_call_item(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.complete_response = tool_call_response()
    response = await client.post("/v1/responses", json=body())
    output = response.json()["output"]
    call = router.complete_response.message.tool_calls[0]
    assert output == [
        {
            "id": "fc_req-1_0",
            "type": "function_call",
            "status": "completed",
            "call_id": call.id,
            "name": call.name,
            "arguments": call.arguments,
        }
    ]


async def test_a_length_stop_is_incomplete(client: httpx.AsyncClient, router: FakeRouter) -> None:
    router.complete_response = text_response("Hi")
    router.complete_response.finish_reason = chat_pb2.FINISH_REASON_LENGTH
    answer = (await client.post("/v1/responses", json=body(max_output_tokens=1))).json()
    assert answer["status"] == "incomplete"
    assert answer["incomplete_details"] == {"reason": "max_output_tokens"}
    assert answer["output"][0]["status"] == "incomplete"


async def test_the_stream_sends_the_events_in_order(
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
    response = await client.post("/v1/responses", json=body(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"] == "req-s"
    got = events(response.text)
    assert [data["sequence_number"] for _, data in got] == list(range(len(got)))
    assert [name for name, _ in got] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    created = got[0][1]["response"]
    assert (created["id"], created["status"], created["output"]) == (
        "resp_req-s",
        "in_progress",
        [],
    )
    texts = [d["delta"] for name, d in got if name == "response.output_text.delta"]
    assert texts == ["Hel", "lo"]
    assert got[12][1] == {
        "type": "response.output_text.done",
        "sequence_number": 12,
        "item_id": "msg_req-s",
        "output_index": 1,
        "content_index": 0,
        "text": "Hello",
        "logprobs": [],
    }
    assert got[18][1]["arguments"] == '{"city":"Paris"}'
    final = got[-1][1]["response"]
    assert final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert final["output"][2]["call_id"] == "call_1"
    assert final["usage"]["output_tokens"] == 5


async def test_a_failure_mid_stream_is_response_failed(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    router.failure = Failure(grpc.StatusCode.UNAVAILABLE, "every model failed", reason="ALL_FAILED")
    router.fail_after = 2
    response = await client.post("/v1/responses", json=body(stream=True))
    got = events(response.text)
    names = [name for name, _ in got]
    assert names[-1] == "response.failed"
    assert "response.completed" not in names
    failed = got[-1][1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "every model failed"}
    assert failed["id"] == got[0][1]["response"]["id"]


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
        (Failure(grpc.StatusCode.INTERNAL, "secret detail", reason="BUG"), 500, "api_error"),
    ],
)
async def test_router_errors_in_openais_shape(
    client: httpx.AsyncClient, router: FakeRouter, failure: Failure, status: int, kind: str
) -> None:
    router.failure = failure
    for stream in (False, True):
        response = await client.post("/v1/responses", json=body(stream=stream))
        assert response.status_code == status
        error = response.json()["error"]
        assert error["type"] == kind
        assert "secret" not in error["message"]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"bogus": 1}, "bogus"),
        ({"input": None}, "input"),
        ({"input": []}, "input"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"text": {"verbosity": "low"}}, "text.verbosity"),
        ({"reasoning": {"summary": "auto"}}, "reasoning.summary"),
        ({"reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"temperature": 2.5}, "temperature"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"truncation": "auto"}, "truncation"),
        ({"include": ["reasoning.encrypted_content"]}, "include[0]"),
        ({"stream_options": {"include_obfuscation": False}}, "stream_options"),
        ({"llmrouter": {"nope": 1}}, "llmrouter.nope"),
        ({"llmrouter": {"min_quality": "best"}}, "llmrouter.min_quality"),
    ],
)
async def test_bad_requests_are_400_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], param: str
) -> None:
    response = await client.post("/v1/responses", json={**body(), **change})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert param in error["message"]


async def test_the_door_answers_without_v1(client: httpx.AsyncClient) -> None:
    assert (await client.post("/responses", json=body())).status_code == 200
