"""The chat request's rules (llmrouter.chat_rules) hold the same on all three sides: the gateway
refuses a JSON value just outside a range with a 400 naming it, the router refuses the same
value on ChatRequest naming the field, and the OpenAPI schema publishes the same bounds and
enums. A number changed in one place only makes one of these fail."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import InvalidRequest as GatewayInvalid
from gateway.openapi import document
from gateway.translate.chat_request import parse_chat_request
from llmrouter import chat_rules
from llmrouter.v1 import chat_pb2
from router_svc.errors import InvalidRequest as RouterInvalid
from router_svc.translate import chat_from_proto

_BODY: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}

# JSON key -> (rule, whether the router checks it too: the others only reach it as proto values
# the gateway already checked, or cannot be out of range in their proto type).
_RANGES = {
    "temperature": (chat_rules.TEMPERATURE, True),
    "top_p": (chat_rules.TOP_P, True),
    "max_tokens": (chat_rules.MAX_TOKENS, True),
    "max_completion_tokens": (chat_rules.MAX_TOKENS, True),
    "seed": (chat_rules.SEED, False),
    "presence_penalty": (chat_rules.PENALTY, False),
    "frequency_penalty": (chat_rules.PENALTY, False),
}


def _schema() -> dict[str, Any]:
    schemas: dict[str, Any] = document(auth_enabled=True)["components"]["schemas"]
    return schemas


def _gateway_param(body: dict[str, Any]) -> str | None:
    """The param of the gateway's 400 for ``body``, or None when it is accepted."""
    try:
        parse_chat_request(body)
    except GatewayInvalid as exc:
        return exc.param
    return None


@pytest.mark.parametrize("key", sorted(_RANGES))
def test_the_gateway_accepts_the_bounds_and_refuses_beyond_them(key: str) -> None:
    rule, _ = _RANGES[key]
    assert _gateway_param({**_BODY, key: rule.minimum}) is None
    assert _gateway_param({**_BODY, key: rule.maximum}) is None
    assert _gateway_param({**_BODY, key: rule.minimum - 1}) == key
    assert _gateway_param({**_BODY, key: rule.maximum + 1}) == key


@pytest.mark.parametrize("key", sorted(k for k, (_, routed) in _RANGES.items() if routed))
def test_the_router_refuses_what_the_gateway_refuses(key: str) -> None:
    rule, _ = _RANGES[key]
    accepted = parse_chat_request({**_BODY, key: rule.minimum}).chat
    chat_from_proto(accepted)
    below = chat_pb2.ChatRequest()
    below.CopyFrom(accepted)
    setattr(below, key, rule.minimum - 1)
    with pytest.raises(RouterInvalid) as caught:
        chat_from_proto(below)
    assert caught.value.field == f"chat.{key}"


@pytest.mark.parametrize("key", sorted(_RANGES))
def test_the_schema_publishes_each_range(key: str) -> None:
    rule, _ = _RANGES[key]
    published = _schema()["ChatCompletionRequest"]["properties"][key]
    assert (published["minimum"], published["maximum"]) == (rule.minimum, rule.maximum)


def test_stop_and_n_limits_agree() -> None:
    properties = _schema()["ChatCompletionRequest"]["properties"]
    stops = ["x"] * chat_rules.STOP_MAX_ITEMS
    assert _gateway_param({**_BODY, "stop": stops}) is None
    assert _gateway_param({**_BODY, "stop": [*stops, "x"]}) == "stop"
    assert properties["stop"]["anyOf"][1]["maxItems"] == chat_rules.STOP_MAX_ITEMS
    assert _gateway_param({**_BODY, "n": chat_rules.N.maximum}) is None
    assert _gateway_param({**_BODY, "n": chat_rules.N.maximum + 1}) == "n"
    assert (properties["n"]["minimum"], properties["n"]["maximum"]) == (
        chat_rules.N.minimum,
        chat_rules.N.maximum,
    )


def test_preference_weights_agree() -> None:
    assert chat_rules.PREFERENCE_WEIGHT.minimum is not None
    low = chat_rules.PREFERENCE_WEIGHT.minimum - 1
    prefs = _schema()["ChatCompletionRequest"]["properties"]["llmrouter"]["properties"]
    assert tuple(prefs["preferences"]["properties"]) == chat_rules.PREFERENCE_KEYS
    for key in chat_rules.PREFERENCE_KEYS:
        body = {**_BODY, "llmrouter": {"preferences": {key: low}}}
        assert _gateway_param(body) == f"llmrouter.preferences.{key}"
        chat = chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER)])
        setattr(chat.routing.preferences, key, low)
        with pytest.raises(RouterInvalid) as caught:
            chat_from_proto(chat)
        assert caught.value.field == f"chat.routing.preferences.{key}"
        published = prefs["preferences"]["properties"][key]["minimum"]
        assert published == chat_rules.PREFERENCE_WEIGHT.minimum


@pytest.mark.parametrize(
    ("names", "enum"),
    [
        (chat_rules.ROLES, chat_pb2.Role),
        (chat_rules.TOOL_CHOICE_MODES, chat_pb2.ToolChoiceMode),
        (chat_rules.RESPONSE_FORMATS, chat_pb2.ResponseFormatType),
    ],
)
def test_each_enum_map_covers_every_proto_value(names: Any, enum: Any) -> None:
    # A value added to the proto enum without a JSON name would be unreachable from the gateway
    # and unreadable in the router.
    assert sorted(names.values()) == sorted(v for v in enum.values() if v != 0)


def test_the_schema_enums_name_the_same_values() -> None:
    # The schema lists these in its own order (tool_choice with none first; the roles split by
    # message shape), so they are compared as sets.
    schemas = _schema()
    modes = schemas["ChatCompletionRequest"]["properties"]["tool_choice"]["anyOf"][0]["enum"]
    assert set(modes) == set(chat_rules.TOOL_CHOICE_MODES)
    roles: set[str] = set()
    for shape in schemas["Message"]["oneOf"]:
        role = shape["properties"]["role"]
        roles.update(role.get("enum", [role.get("const")]))
    assert roles == set(chat_rules.ROLES)
    formats = schemas["ChatCompletionRequest"]["properties"]["response_format"]["oneOf"]
    published = {f["properties"]["type"].get("const") for f in formats[:2]}
    published.update(formats[0]["properties"]["type"]["enum"])
    assert published - {None} == set(chat_rules.RESPONSE_FORMATS)


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("service_tier", chat_rules.SERVICE_TIERS),
        ("reasoning_effort", chat_rules.REASONING_EFFORTS),
    ],
)
def test_openai_option_enums_agree(key: str, allowed: tuple[str, ...]) -> None:
    for value in allowed:
        assert _gateway_param({**_BODY, key: value}) is None
    assert _gateway_param({**_BODY, key: "other"}) == key
    chat = parse_chat_request(_BODY).chat
    setattr(chat, key, "other")
    with pytest.raises(RouterInvalid) as caught:
        chat_from_proto(chat)
    assert caught.value.field == f"chat.{key}"
    published = _schema()["ChatCompletionRequest"]["properties"][key]["enum"]
    assert published == [*allowed, None]


def test_top_logprobs_rules_agree() -> None:
    rule = chat_rules.TOP_LOGPROBS
    with_logprobs = {**_BODY, "logprobs": True}
    assert _gateway_param({**with_logprobs, "top_logprobs": rule.maximum}) is None
    assert _gateway_param({**with_logprobs, "top_logprobs": rule.maximum + 1}) == "top_logprobs"
    assert _gateway_param({**_BODY, "top_logprobs": 1}) == "top_logprobs"
    for logprobs, top in ((True, rule.maximum + 1), (False, 1)):
        chat = parse_chat_request(_BODY).chat
        chat.logprobs, chat.top_logprobs = logprobs, top
        with pytest.raises(RouterInvalid) as caught:
            chat_from_proto(chat)
        assert caught.value.field == "chat.top_logprobs"
    published = _schema()["ChatCompletionRequest"]["properties"]["top_logprobs"]
    assert (published["minimum"], published["maximum"]) == (rule.minimum, rule.maximum)
