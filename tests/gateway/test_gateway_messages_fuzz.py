"""Property: whatever a ``/v1/messages`` body holds, the translation either gives a ChatRequest
the router can decode, or a 400 (InvalidRequest) naming the field, in its message too (Anthropic's
error body has no ``param``); never another exception (a 500)."""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidRequest
from gateway.translate.messages_request import parse_messages_request
from llmrouter.v1 import chat_pb2

EXAMPLES = 2000 if os.environ.get("LLMROUTER_SOAK") else 300

VALID: dict[str, Any] = {
    "model": "claude",
    "max_tokens": 64,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
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
                    "content": [{"type": "text", "text": "ok"}],
                },
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            ],
        },
    ],
    "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "tool", "name": "weather"},
    "stop_sequences": ["END"],
    "metadata": {"user_id": "u"},
    "temperature": 0.2,
    "stream": False,
}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value``."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """VALID with a few values replaced by arbitrary JSON, deleted, or keys added."""
    body: Any = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        places = paths(body)
        path = draw(st.sampled_from(places))
        if not path:
            body = draw(JSON)
            continue
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(("replace", "delete", "add")))
        if action == "replace":
            parent[path[-1]] = draw(JSON)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(JSON)
        else:
            parent.append(draw(JSON))
    return body


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_any_body_is_translated_or_refused_naming_the_field(body: Any, count_only: bool) -> None:
    try:
        parsed = parse_messages_request(body, count_only=count_only)
    except InvalidRequest as exc:
        refused = exc
    else:
        refused = None
    if refused is not None:
        assert refused.http_status == 400
        assert refused.param is None or refused.param in refused.message
        return
    decoded = chat_pb2.ChatRequest.FromString(parsed.chat.SerializeToString())
    assert decoded.front_door == "messages"
    assert decoded.messages


def test_the_valid_body_translates() -> None:
    parsed = parse_messages_request(copy.deepcopy(VALID))
    assert [m.role for m in parsed.chat.messages] == [
        chat_pb2.ROLE_SYSTEM,
        chat_pb2.ROLE_USER,
        chat_pb2.ROLE_ASSISTANT,
        chat_pb2.ROLE_TOOL,
        chat_pb2.ROLE_USER,
    ]
