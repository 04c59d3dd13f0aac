"""Property: whatever a ``/v1/responses`` body holds, the translation either gives a ChatRequest
the router can decode, or a 400 (InvalidRequest) whose ``param`` is in its message; never
another exception (a 500)."""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidRequest
from gateway.translate.responses_request import parse_responses_request
from llmrouter.v1 import chat_pb2

EXAMPLES = 2000 if os.environ.get("LLMROUTER_SOAK") else 300

VALID: dict[str, Any] = {
    "model": "gpt",
    "instructions": "Be brief.",
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
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
            "call_id": "c1",
            "name": "weather",
            "arguments": "{}",
            "status": "completed",
        },
        {"type": "function_call_output", "call_id": "c1", "output": "Sunny"},
        {
            "role": "user",
            "content": [{"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}],
        },
    ],
    "tools": [
        {
            "type": "function",
            "name": "weather",
            "parameters": {"type": "object"},
            "strict": False,
        }
    ],
    "tool_choice": {"type": "function", "name": "weather"},
    "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
    "reasoning": {"effort": "low"},
    "max_output_tokens": 64,
    "metadata": {"k": "v"},
    "temperature": 0.2,
    "store": False,
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
@given(mutated())
def test_any_body_is_translated_or_refused_naming_the_field(body: Any) -> None:
    try:
        parsed = parse_responses_request(body)
    except InvalidRequest as exc:
        refused = exc
    else:
        refused = None
    if refused is not None:
        assert refused.http_status == 400
        assert refused.param is None or refused.param in refused.message
        return
    decoded = chat_pb2.ChatRequest.FromString(parsed.chat.SerializeToString())
    assert decoded.front_door == "responses"
    assert decoded.messages


def test_the_valid_body_translates() -> None:
    parsed = parse_responses_request(copy.deepcopy(VALID))
    assert [m.role for m in parsed.chat.messages] == [
        chat_pb2.ROLE_SYSTEM,
        chat_pb2.ROLE_USER,
        chat_pb2.ROLE_ASSISTANT,
        chat_pb2.ROLE_TOOL,
        chat_pb2.ROLE_USER,
    ]
    assert parsed.chat.messages[2].tool_calls[0].id == "c1"
