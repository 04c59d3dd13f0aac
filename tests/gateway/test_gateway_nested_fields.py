"""Nothing a client sends inside a request is dropped in silence (issue 16): a key of a message,
content part, image, tool, tool call or ``stream_options`` that OpenAI's request schema does
not define is a 400 naming its path; ``cache_control`` reaches the router on parts, messages
and tools; what an assistant message comes back with from our answers and the ``openai``
package's helpers is taken (and not forwarded), so round trips keep working."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from gateway import RunningGateway
from gateway.errors import InvalidRequest
from gateway.openapi.chat_request import CHAT_REQUEST_SCHEMAS
from gateway.translate import parse_chat_request
from gateway.translate.chat_fields import (
    CACHE_CONTROL_KEYS,
    ECHOED_CALL_KEYS,
    ECHOED_FUNCTION_KEYS,
    ECHOED_MESSAGE_KEYS,
    FUNCTION_KEYS,
    IMAGE_URL_KEYS,
    MESSAGE_KEYS,
    PART_KEYS,
    STREAM_OPTIONS_KEYS,
    TOOL_CALL_FUNCTION_KEYS,
    TOOL_CALL_KEYS,
    TOOL_KEYS,
)
from llmrouter.v1 import chat_pb2

from .support import AUTH, TEST_KEY, FakeRouter, tool_call_response, tool_call_stream

USER = {"role": "user", "content": "hi"}
CALL = {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
TOOL = {"type": "function", "function": {"name": "lookup"}}
TEXT_PART = {"type": "text", "text": "big doc"}
IMAGE_PART = {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
EPHEMERAL = {"type": "ephemeral"}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [USER], **fields}


def refused(request: dict[str, Any]) -> tuple[str | None, str]:
    with pytest.raises(InvalidRequest) as raised:
        parse_chat_request(request)
    return raised.value.param, raised.value.message


def assistant(**keys: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": "a", **keys}


UNKNOWN = [
    (body(messages=[USER, USER, {**USER, "foo": 1}]), "messages[2].foo"),
    (body(messages=[{**USER, "foo": None}]), "messages[0].foo"),
    (
        body(messages=[{"role": "user", "content": [{**TEXT_PART, "foo": 1}]}]),
        "messages[0].content[0].foo",
    ),
    (
        body(
            messages=[
                {"role": "user", "content": [{**IMAGE_PART, "image_url": {"url": "u", "foo": 1}}]}
            ]
        ),
        "messages[0].content[0].image_url.foo",
    ),
    (
        body(
            messages=[
                USER,
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "no", "foo": 1}]},
            ]
        ),
        "messages[1].content[0].foo",
    ),
    (body(tools=[{**TOOL, "foo": 1}]), "tools[0].foo"),
    (
        body(tools=[{"type": "function", "function": {"name": "f", "foo": 1}}]),
        "tools[0].function.foo",
    ),
    (
        body(messages=[USER, assistant(tool_calls=[{**CALL, "foo": 1}])]),
        "messages[1].tool_calls[0].foo",
    ),
    (
        body(
            messages=[
                USER,
                assistant(
                    tool_calls=[{**CALL, "function": {"name": "f", "arguments": "{}", "foo": 1}}]
                ),
            ]
        ),
        "messages[1].tool_calls[0].function.foo",
    ),
    (body(stream=True, stream_options={"include_usage": True, "foo": 1}), "stream_options.foo"),
    (
        body(
            messages=[
                {
                    "role": "user",
                    "content": [{**TEXT_PART, "cache_control": {**EPHEMERAL, "foo": 1}}],
                }
            ]
        ),
        "messages[0].content[0].cache_control.foo",
    ),
    # A message key that only another role has, sent with a value.
    (body(messages=[{**USER, "tool_call_id": "call_9"}]), "messages[0].tool_call_id"),
    (body(messages=[{**USER, "reasoning_content": "x"}]), "messages[0].reasoning_content"),
    # OpenAI's keys the router does not carry, sent with a value.
    (body(messages=[USER, assistant(audio={"id": "audio_1"})]), "messages[1].audio"),
    (
        body(messages=[USER, assistant(function_call={"name": "f", "arguments": "{}"})]),
        "messages[1].function_call",
    ),
]


@pytest.mark.parametrize(("request_body", "param"), UNKNOWN, ids=[p for _, p in UNKNOWN])
def test_a_nested_key_not_taken_is_refused_naming_its_path(
    request_body: dict[str, Any], param: str
) -> None:
    assert refused(request_body)[0] == param


def test_the_message_says_which_key() -> None:
    _, message = refused(body(messages=[USER, USER, {**USER, "foo": 1}]))
    assert message == "Unrecognized parameter: 'messages[2].foo'."


def test_what_an_answer_comes_back_with_is_taken_and_not_forwarded() -> None:
    echoed = assistant(
        refusal=None,
        reasoning_content="The user greets me.",
        annotations=[],
        audio=None,
        function_call=None,
        parsed=None,
        tool_calls=[{**CALL, "index": 0, "function": {**CALL["function"], "parsed_arguments": {}}}],
    )
    chat = parse_chat_request(body(messages=[USER, echoed, USER])).chat
    assert chat.messages[1] == chat_pb2.Message(
        role=chat_pb2.ROLE_ASSISTANT,
        content="a",
        tool_calls=[chat_pb2.ToolCall(id="call_9", name="lookup", arguments="{}")],
    )


def test_null_asks_for_nothing_on_any_role() -> None:
    nulls = dict.fromkeys(("tool_call_id", "reasoning_content", "audio", "function_call"))
    chat = parse_chat_request(body(messages=[{**USER, **nulls, "cache_control": None}])).chat
    assert chat.messages[0] == chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")


def test_cache_control_reaches_the_router_on_parts_messages_and_tools() -> None:
    hour = {"type": "ephemeral", "ttl": "1h"}
    chat = parse_chat_request(
        body(
            messages=[
                {"role": "system", "content": "rules", "cache_control": EPHEMERAL},
                {"role": "user", "content": [{**TEXT_PART, "cache_control": hour}, IMAGE_PART]},
            ],
            tools=[{**TOOL, "cache_control": EPHEMERAL}],
        )
    ).chat
    assert chat.messages[0].cache_control == chat_pb2.CacheControl(type="ephemeral")
    assert chat.messages[1].content_parts[0].cache_control == chat_pb2.CacheControl(
        type="ephemeral", ttl="1h"
    )
    assert not chat.messages[1].content_parts[1].HasField("cache_control")
    assert not chat.messages[1].HasField("cache_control")
    assert chat.tools[0].cache_control == chat_pb2.CacheControl(type="ephemeral")


@pytest.mark.parametrize(
    ("cache", "param"),
    [
        ({"type": "persistent"}, "messages[0].cache_control.type"),
        ({}, "messages[0].cache_control.type"),
        ({"type": "ephemeral", "ttl": "24h"}, "messages[0].cache_control.ttl"),
        ("ephemeral", "messages[0].cache_control"),
    ],
)
def test_a_cache_control_of_another_shape_is_refused(cache: Any, param: str) -> None:
    assert refused(body(messages=[{**USER, "cache_control": cache}]))[0] == param


# The schema's objects list exactly the keys the gateway takes (the rest: additionalProperties
# false), so fuzzing the document finds what the gateway refuses.
def _properties(schema: dict[str, Any]) -> set[str]:
    assert schema["additionalProperties"] is False
    return set(schema["properties"])


def test_the_schema_closes_every_nested_object_with_the_gateways_keys() -> None:
    schemas = CHAT_REQUEST_SCHEMAS
    for variant in schemas["Message"]["oneOf"]:
        assert _properties(variant) == MESSAGE_KEYS | ECHOED_MESSAGE_KEYS
    user = schemas["Message"]["oneOf"][1]["properties"]["content"]["anyOf"][1]["items"]["oneOf"]
    text, image = user
    assert _properties(text) == PART_KEYS["text"]
    assert _properties(image) == PART_KEYS["image_url"]
    assert _properties(image["properties"]["image_url"]) == IMAGE_URL_KEYS
    refusal = schemas["Message"]["oneOf"][2]["properties"]["content"]["anyOf"][0]["anyOf"][1]
    assert _properties(refusal["items"]["oneOf"][1]) == PART_KEYS["refusal"]
    assert _properties(schemas["Tool"]) == TOOL_KEYS
    assert _properties(schemas["Tool"]["properties"]["function"]) == FUNCTION_KEYS
    assert _properties(schemas["ToolCall"]) == TOOL_CALL_KEYS | ECHOED_CALL_KEYS
    function = schemas["ToolCall"]["properties"]["function"]
    assert _properties(function) == TOOL_CALL_FUNCTION_KEYS | ECHOED_FUNCTION_KEYS
    assert _properties(schemas["CacheControl"]) == CACHE_CONTROL_KEYS
    options = schemas["ChatCompletionRequest"]["properties"]["stream_options"]
    assert _properties(options) == STREAM_OPTIONS_KEYS


# --- through the real gateway, with the official openai package ------------------------------

TOOLS: Any = [{"type": "function", "function": {"name": "get_weather"}}]
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]


async def test_an_answer_sent_back_by_the_openai_sdk_is_taken(
    gateway: RunningGateway, router: FakeRouter
) -> None:
    # The SDK serialises the message object it is given (exclude_unset): whole, our keys;
    # from its stream helper, also annotations, audio and function_call (null), parsed, and
    # each call's index and parsed_arguments.
    sdk = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=TEST_KEY, max_retries=0)
    router.complete_response = tool_call_response()
    router.complete_response.reasoning_content = "The user wants the weather."
    router.stream_messages = tool_call_stream()
    reply = await sdk.chat.completions.create(model="auto", messages=ASK, tools=TOOLS)
    async with sdk.chat.completions.stream(model="auto", messages=ASK, tools=TOOLS) as stream:
        final = await stream.get_final_completion()
    for message in (reply.choices[0].message, final.choices[0].message):
        result = {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
        again = await sdk.chat.completions.create(
            model="auto", messages=[*ASK, message, result], tools=TOOLS
        )
        assert again.choices[0].message.tool_calls is not None
        sent = router.requests[-1].messages[1]
        assert sent.tool_calls[0] == chat_pb2.ToolCall(
            id="call_1", name="get_weather", arguments='{"city":"Paris"}'
        )
    await sdk.close()


async def test_an_unknown_nested_key_is_a_400_the_sdk_raises(
    gateway: RunningGateway, router: FakeRouter
) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=TEST_KEY, max_retries=0)
    message: Any = {"role": "user", "content": "hi", "foo": 1}
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.chat.completions.create(model="auto", messages=[message])
    assert raised.value.status_code == 400
    assert raised.value.param == "messages[0].foo"  # type: ignore[attr-defined]
    assert router.requests == []
    await sdk.close()


async def test_stream_options_unknown_key_is_a_400(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json=body(stream=True, stream_options={"include_usage": True, "foo": 1}),
        headers=AUTH,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "stream_options.foo"
    assert router.requests == []
