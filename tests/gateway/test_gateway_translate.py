"""Unit tests of gateway.translate: validation edge cases and both directions of mapping."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google.protobuf import timestamp_pb2

from gateway.errors import InvalidRequest
from gateway.openapi.chat_request import CHAT_REQUEST_SCHEMAS
from gateway.translate import (
    ChunkStream,
    completion,
    completion_headers,
    parse_chat_request,
)
from gateway.translate.chat_fields import CHAT_FIELDS
from llmrouter.v1 import chat_pb2, router_service_pb2

from .support import (
    delta,
    start_message,
    summary,
    text_response,
    tool_call_response,
    tool_call_stream,
)

USER = {"role": "user", "content": "hi"}
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"z": 1, "a": [1.5, 2]}, "strict": True},
}
CALL = {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


def parse(**fields: Any) -> chat_pb2.ChatRequest:
    return parse_chat_request({"model": "auto", "messages": [USER], **fields}).chat


def param_of(body: Any, **kwargs: Any) -> str | None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat_request(body, **kwargs)
    return caught.value.param


def invalid(**fields: Any) -> str | None:
    return param_of({"model": "auto", "messages": [USER], **fields})


# --- request: accepted shapes ------------------------------------------------------------------


def test_minimal_request() -> None:
    parsed = parse_chat_request({"model": "gpt-4o", "messages": [USER]}, client_request_id="r1")

    assert parsed.stream is False
    assert parsed.include_usage is False
    assert parsed.model == "gpt-4o"
    assert parsed.chat.client_request_id == "r1"
    assert parsed.chat.messages[0] == chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")
    assert not parsed.chat.HasField("temperature")
    assert not parsed.chat.HasField("max_tokens")


def test_every_role() -> None:
    chat = parse(
        messages=[
            {"role": "developer", "content": "d"},
            {"role": "system", "content": "s"},
            USER,
            {"role": "assistant", "content": "a", "name": "bot"},
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_9", "content": "result"},
        ]
    )

    assert [m.role for m in chat.messages] == [
        chat_pb2.ROLE_DEVELOPER,
        chat_pb2.ROLE_SYSTEM,
        chat_pb2.ROLE_USER,
        chat_pb2.ROLE_ASSISTANT,
        chat_pb2.ROLE_ASSISTANT,
        chat_pb2.ROLE_TOOL,
    ]
    assert chat.messages[3].name == "bot"
    assert chat.messages[4].tool_calls[0] == chat_pb2.ToolCall(
        id="call_9", name="lookup", arguments="{}"
    )
    assert chat.messages[5].tool_call_id == "call_9"


def test_assistant_with_tool_calls_may_omit_content() -> None:
    chat = parse(messages=[USER, {"role": "assistant", "tool_calls": [CALL]}])

    assert chat.messages[1].content == ""
    assert len(chat.messages[1].tool_calls) == 1


def test_content_parts() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]
    chat = parse(messages=[{"role": "user", "content": content}])

    parts = chat.messages[0].content_parts
    assert parts[0].text == "What is this?"
    assert parts[1].image_url == "data:image/png;base64,AAAA"
    assert chat.messages[0].content == ""


def test_tools_keep_parameters_as_json_text_in_order() -> None:
    chat = parse(tools=[TOOL])

    assert chat.tools[0].name == "lookup"
    assert chat.tools[0].strict is True
    assert chat.tools[0].parameters_json == '{"z":1,"a":[1.5,2]}'


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", chat_pb2.ToolChoice(mode=chat_pb2.TOOL_CHOICE_MODE_AUTO)),
        ("none", chat_pb2.ToolChoice(mode=chat_pb2.TOOL_CHOICE_MODE_NONE)),
        ("required", chat_pb2.ToolChoice(mode=chat_pb2.TOOL_CHOICE_MODE_REQUIRED)),
        (
            {"type": "function", "function": {"name": "lookup"}},
            chat_pb2.ToolChoice(function_name="lookup"),
        ),
    ],
)
def test_tool_choice(choice: Any, expected: chat_pb2.ToolChoice) -> None:
    assert parse(tools=[TOOL], tool_choice=choice).tool_choice == expected


def test_sampling_fields() -> None:
    chat = parse(
        temperature=0,
        top_p=1,
        max_tokens=10,
        seed=-5,
        presence_penalty=-2,
        frequency_penalty=1.5,
        user="u-1",
    )

    assert chat.HasField("temperature")
    assert chat.temperature == 0
    assert chat.top_p == 1
    assert chat.max_tokens == 10
    assert chat.seed == -5
    assert chat.presence_penalty == -2
    assert chat.frequency_penalty == 1.5
    assert chat.user == "u-1"


def test_max_completion_tokens_travels_under_its_own_name() -> None:
    # Issue 16, input 1: renamed to max_tokens, it reached reasoning models that refuse it.
    chat = parse(max_completion_tokens=50)

    assert chat.max_completion_tokens == 50
    assert not chat.HasField("max_tokens")
    both = parse(max_tokens=10, max_completion_tokens=20)
    assert (both.max_tokens, both.max_completion_tokens) == (10, 20)


def test_nulls_mean_not_given() -> None:
    chat = parse(temperature=None, stop=None, tools=None, tool_choice=None, metadata=None, n=None)

    assert not chat.HasField("temperature")
    assert list(chat.stops) == []


@pytest.mark.parametrize(("stop", "stops"), [("x", ["x"]), (["a", "b"], ["a", "b"]), ([], [])])
def test_stop(stop: Any, stops: list[str]) -> None:
    assert list(parse(stop=stop).stops) == stops


def test_response_format_json_schema_is_kept_as_json_text() -> None:
    schema = {"name": "answer", "schema": {"type": "object"}, "strict": True}
    chat = parse(response_format={"type": "json_schema", "json_schema": schema})

    assert chat.response_format.type == chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA
    assert orjson.loads(chat.response_format.json_schema) == schema


def test_response_format_json_object() -> None:
    chat = parse(response_format={"type": "json_object"})

    assert chat.response_format.type == chat_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT


def test_router_extension_and_metadata() -> None:
    chat = parse(
        metadata={"team": "a"},
        llmrouter={
            "category": "code",
            "task_type": "review",
            "source": "body-src",
            "preferences": {"cost": 0.5, "latency": 0, "quality": 2},
            "min_quality": 0.7,
        },
    )

    assert chat.routing.HasField("min_quality")
    assert chat.routing.min_quality == 0.7
    assert not parse().routing.HasField("min_quality")
    assert parse(llmrouter={"min_quality": 0}).routing.HasField("min_quality")
    assert dict(chat.metadata) == {"team": "a"}
    assert chat.routing.category == "code"
    assert chat.routing.task_type == "review"
    assert chat.routing.preferences == chat_pb2.Preferences(cost=0.5, latency=0, quality=2)
    assert chat.caller.source == "body-src"


def test_source_header_and_body_precedence() -> None:
    body = {"model": "auto", "messages": [USER]}
    assert parse_chat_request(body, source="hdr").chat.caller.source == "hdr"
    with_body = {**body, "llmrouter": {"source": "body"}}
    assert parse_chat_request(with_body, source="hdr").chat.caller.source == "body"


def test_stream_options() -> None:
    parsed = parse_chat_request(
        {
            "model": "a",
            "messages": [USER],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )

    assert parsed.stream is True
    assert parsed.include_usage is True


def test_known_top_level_fields_are_taken() -> None:
    chat = parse(logprobs=False, parallel_tool_calls=True, service_tier="auto", n=1)

    assert chat.model == "auto"


def test_an_unknown_top_level_field_is_refused_naming_it() -> None:
    # OpenAI: 400 "Unrecognized request argument supplied: top_k" (issue 16: never ignored).
    with pytest.raises(InvalidRequest) as raised:
        parse(top_k=40)

    assert raised.value.param == "top_k"
    assert "llmrouter.extra_body" in raised.value.message


def test_the_schema_lists_every_top_level_field() -> None:
    schema = CHAT_REQUEST_SCHEMAS["ChatCompletionRequest"]

    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == CHAT_FIELDS


# --- request: rejected shapes name the param ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": ""}, "model"),
        ({"model": None}, "model"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [USER, "hi"]}, "messages[1]"),
        ({"messages": [USER, {"content": "x"}]}, "messages[1].role"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
        ({"messages": [{"role": "assistant", "content": None}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": []}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": {"text": "x"}}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "audio", "x": 1}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
            "messages[0].content[0].text",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "system",
                        "content": [{"type": "image_url", "image_url": {"url": "http://x"}}],
                    }
                ]
            },
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "tool_calls": [CALL]}]},
            "messages[0].tool_calls",
        ),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{**CALL, "type": "fn"}]}]},
            "messages[0].tool_calls[0].type",
        ),
        (
            {
                "messages": [
                    {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "f"}}]}
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            {"messages": [{"role": "tool", "content": "r", "tool_call_id": ""}]},
            "messages[0].tool_call_id",
        ),
        ({"messages": [{"role": "user", "content": "x", "name": 7}]}, "messages[0].name"),
        ({"tools": {"type": "function"}}, "tools"),
        (
            {"tools": [{"type": "function", "function": {"description": "d"}}]},
            "tools[0].function.name",
        ),
        ({"tools": [TOOL, TOOL]}, "tools[1].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]},
            "tools[0].function.parameters",
        ),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        ({"tool_choice": "required"}, "tool_choice"),
        (
            {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "other"}}},
            "tool_choice.function.name",
        ),
        ({"tool_choice": 1}, "tool_choice"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": 1.01}, "top_p"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_completion_tokens": 2**31}, "max_completion_tokens"),
        ({"stop": ["a", 1]}, "stop[1]"),
        ({"stop": 5}, "stop"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {}}},
            "response_format.json_schema.name",
        ),
        ({"seed": "1"}, "seed"),
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"frequency_penalty": -2.5}, "frequency_penalty"),
        ({"user": 1}, "user"),
        ({"n": 2}, "n"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        (
            {"stream": True, "stream_options": {"include_usage": "yes"}},
            "stream_options.include_usage",
        ),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"metadata": ["k"]}, "metadata"),
        ({"llmrouter": "code"}, "llmrouter"),
        ({"llmrouter": {"category": 1}}, "llmrouter.category"),
        ({"llmrouter": {"preferences": {"cost": -1}}}, "llmrouter.preferences.cost"),
        ({"llmrouter": {"preferences": {"speed": 1}}}, "llmrouter.preferences.speed"),
        ({"llmrouter": {"min_quality": 1.5}}, "llmrouter.min_quality"),
        ({"llmrouter": {"min_quality": -0.1}}, "llmrouter.min_quality"),
        ({"llmrouter": {"min_quality": "high"}}, "llmrouter.min_quality"),
        ({"llmrouter": {"min_quality": True}}, "llmrouter.min_quality"),
        ({"llmrouter": {"min_quality": float("nan")}}, "llmrouter.min_quality"),
    ],
)
def test_invalid_fields_name_their_param(fields: dict[str, Any], param: str) -> None:
    assert invalid(**fields) == param


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_body_must_be_an_object(body: Any) -> None:
    assert param_of(body) is None


def test_messages_required() -> None:
    assert param_of({"model": "auto"}) == "messages"


def test_type_error_message_reads_like_openai() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(temperature="warm")

    assert caught.value.message == (
        "Invalid type for 'temperature': expected a number, but got a string instead."
    )
    assert caught.value.http_status == 400


# --- response: CompleteResponse ----------------------------------------------------------------


def test_completion_of_a_tool_call_has_null_content() -> None:
    result = completion(tool_call_response())

    message = result["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert result["choices"][0]["finish_reason"] == "tool_calls"


def test_completion_joins_text_parts_and_computes_total() -> None:
    response = text_response("")
    response.message.content_parts.extend(
        [chat_pb2.ContentPart(text="a"), chat_pb2.ContentPart(text="b")]
    )
    response.usage.total_tokens = 0

    result = completion(response)

    assert result["choices"][0]["message"]["content"] == "ab"
    assert "tool_calls" not in result["choices"][0]["message"]
    assert result["usage"]["total_tokens"] == 17


def test_completion_carries_the_reasoning_beside_the_content_and_omits_none() -> None:
    response = text_response("The answer is 4.")
    response.reasoning_content = "2 + 2: count on two from two."

    message = completion(response)["choices"][0]["message"]

    assert message["content"] == "The answer is 4."
    assert message["reasoning_content"] == "2 + 2: count on two from two."
    assert "reasoning_content" not in completion(text_response())["choices"][0]["message"]


@pytest.mark.parametrize(
    ("reason", "name"),
    [
        (chat_pb2.FINISH_REASON_STOP, "stop"),
        (chat_pb2.FINISH_REASON_LENGTH, "length"),
        (chat_pb2.FINISH_REASON_TOOL_CALLS, "tool_calls"),
        (chat_pb2.FINISH_REASON_CONTENT_FILTER, "content_filter"),
        (chat_pb2.FINISH_REASON_UNSPECIFIED, "stop"),
    ],
)
def test_finish_reasons(reason: chat_pb2.FinishReason, name: str) -> None:
    response = text_response()
    response.finish_reason = reason

    assert completion(response)["choices"][0]["finish_reason"] == name


def test_completion_without_create_time_uses_now() -> None:
    response = text_response()
    response.ClearField("create_time")

    assert completion(response)["created"] > 1_700_000_000


def test_completion_headers() -> None:
    assert completion_headers(text_response()) == {
        "x-request-id": "req-1",  # the router's id for the request
        "x-llmrouter-model": "sim-small",
        "x-llmrouter-provider": "simulated",
        "x-llmrouter-attempts": "2",
        "x-llmrouter-fallback": "true",
    }


# --- response: stream chunks -------------------------------------------------------------------


def feed_all(stream: ChunkStream, messages: list[Any]) -> list[dict[str, Any]]:
    return [chunk for message in messages for chunk in stream.feed(message)]


def test_stream_start_gives_headers_and_no_chunk() -> None:
    stream = ChunkStream(request_id="r", model="auto", include_usage=False)

    assert stream.feed(start_message()) == []
    assert stream.headers() == {
        "x-request-id": "req-s",  # the router's id for the request
        "x-llmrouter-model": "sim-small",
        "x-llmrouter-provider": "simulated",
    }


def test_stream_role_only_once_and_empty_deltas_skipped() -> None:
    stream = ChunkStream(request_id="r", model="auto", include_usage=False)

    chunks = feed_all(stream, [start_message(), delta("a"), delta(""), delta("b"), summary()])

    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": "a"},
        {"content": "b"},
        {},
    ]
    assert stream.finished


def test_stream_relays_reasoning_pieces_apart_from_the_text() -> None:
    stream = ChunkStream(request_id="r", model="auto", include_usage=False)
    thinking = [
        router_service_pb2.StreamCompleteResponse(
            delta=router_service_pb2.StreamDelta(reasoning_content=piece)
        )
        for piece in ("Count on ", "two.")
    ]

    chunks = feed_all(stream, [start_message(), *thinking, delta("4"), summary()])

    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "reasoning_content": "Count on ", "content": ""},
        {"reasoning_content": "two."},
        {"content": "4"},
        {},
    ]
    # Only the answer's text is what a resumed stream continues.
    assert stream.text == "4"


def test_stream_with_no_content_still_sends_the_role() -> None:
    stream = ChunkStream(request_id="r", model="auto", include_usage=True)

    chunks = feed_all(stream, [start_message(), summary(chat_pb2.FINISH_REASON_LENGTH)])

    assert chunks[0]["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": ""},
        "logprobs": None,
        "finish_reason": "length",
    }
    assert chunks[1]["choices"] == []
    assert chunks[1]["usage"]["total_tokens"] == 17


def test_stream_ignores_messages_after_the_summary() -> None:
    stream = ChunkStream(request_id="r", model="auto", include_usage=False)
    feed_all(stream, [start_message(), summary()])

    assert stream.feed(delta("late")) == []


def test_stream_without_start_uses_the_request_id_and_model() -> None:
    stream = ChunkStream(request_id="r9", model="auto", include_usage=False)

    chunk = stream.feed(delta("x"))[0]

    assert chunk["id"] == "chatcmpl-r9"
    assert chunk["model"] == "auto"
    assert stream.headers() == {"x-llmrouter-model": "auto"}


def test_stream_tool_calls_finish_reason_when_unspecified() -> None:
    stream = ChunkStream(request_id="r", model="auto", include_usage=False)
    messages = tool_call_stream()
    messages[-1] = summary(chat_pb2.FINISH_REASON_UNSPECIFIED)

    chunks = feed_all(stream, messages)

    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_created_from_start() -> None:
    stream = ChunkStream(request_id="r", model="auto", include_usage=False)
    start = start_message()
    start.start.create_time.CopyFrom(timestamp_pb2.Timestamp(seconds=42))

    chunks = feed_all(stream, [start, delta("x")])

    assert chunks[0]["created"] == 42


def test_openai_options_reach_the_chat_request() -> None:
    chat = parse(
        logprobs=True,
        top_logprobs=20,
        service_tier="flex",
        reasoning_effort="minimal",
        parallel_tool_calls=False,
    )

    assert (chat.logprobs, chat.top_logprobs) == (True, 20)
    assert (chat.service_tier, chat.reasoning_effort) == ("flex", "minimal")
    assert chat.HasField("parallel_tool_calls")
    assert chat.parallel_tool_calls is False


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"top_logprobs": 2}, "top_logprobs"),  # needs logprobs: true
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"service_tier": "fast"}, "service_tier"),
        ({"parallel_tool_calls": "no"}, "parallel_tool_calls"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"logit_bias": {"1": 5}}, "logit_bias"),
        ({"store": 0}, "store"),  # 0 is not JSON's false
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"functions": []}, "functions"),
    ],
)
def test_openai_options_out_of_rule_or_not_carried_name_the_field(
    fields: dict[str, Any], param: str
) -> None:
    assert param_of({"model": "auto", "messages": [USER], **fields}) == param
