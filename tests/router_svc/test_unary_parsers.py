"""Every codec's reading of a whole (non-streamed) answer against mutated bodies: whatever
arrives, the outcome is a correct completion or a classified, retryable MalformedResponse,
never an exception that escapes (which the client would see as INTERNAL, with no failover).

The well-formed bodies are the fake upstream's (written from each provider's reference); the
mutations drop keys, put values of any JSON type anywhere, null lists and empty them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmrouter.v1 import router_service_pb2
from router_svc.chat import ChatRequest, Completion, Message
from router_svc.errors import MalformedResponse
from router_svc.providers import ProviderCall
from router_svc.providers.http import well_formed
from tests.fakes import Behavior, FakeUpstream
from tests.fakes._answer import make_answer

from .conftest import FakeMetrics, model, wait_for
from .test_failover import ONE_TRY, chat
from .test_stream_parsers import JSON, KINDS, PROVIDERS, TEXT, WEATHER

Path = tuple[str | int, ...]


def body(kind: str, tool: bool) -> Any:
    """The fake's whole answer for ``kind`` as parsed JSON."""
    request: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    if tool:
        request["tools"] = [{"type": "function", "function": {"name": "get_weather"}}]
    answer = make_answer(request, seq=1, chunks=4, max_tokens=None, text=TEXT)
    return KINDS[kind][1].reply(answer)


def paths(value: Any, here: Path = ()) -> list[Path]:
    """Every path into ``value`` (the root included), depth first."""
    found = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*here, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, (*here, i))
    return found


def mutate(value: Any, ops: list[tuple[Any, ...]]) -> Any:
    """``value`` (a deep copy) with each op applied at the path its index picks."""
    root = {"": json.loads(json.dumps(value))}
    for op in ops:
        where = [p for p in paths(root[""]) if p] or [()]
        path = ("", *where[op[1] % len(where)])
        parent: Any = root
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        if op[0] == "drop" and isinstance(parent, dict):
            del parent[key]
        elif op[0] == "drop" and isinstance(parent, list):
            parent.pop(key)
        elif op[0] == "set":
            parent[key] = op[2]
        elif op[0] == "wrap":
            parent[key] = [parent[key]]
        elif op[0] == "empty":
            parent[key] = [] if isinstance(parent[key], list) else {}
    return root[""]


mutation = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 300)),
    st.tuples(st.just("set"), st.integers(0, 300), JSON),
    st.tuples(st.just("set"), st.integers(0, 300), st.sampled_from([None, [], {}, "", 0, -1])),
    st.tuples(st.just("wrap"), st.integers(0, 300)),
    st.tuples(st.just("empty"), st.integers(0, 300)),
)


def read(kind: str, data: Any, tool: bool) -> Completion:
    request = ChatRequest(model="m", messages=(Message("user", "hi"),), tools=(WEATHER,) * tool)
    return PROVIDERS[kind].read_answer(ProviderCall("m", request, 5.0), json.dumps(data).encode())


@pytest.mark.parametrize("tool", [False, True])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_unmutated_answer_is_read(kind: str, tool: bool) -> None:
    completion = read(kind, body(kind, tool), tool)
    if tool:
        assert json.loads(completion.tool_calls[0].arguments) == {"city": "Paris"}
    else:
        assert completion.content == TEXT
    assert completion.usage.completion_tokens == 4


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(KINDS)),
    tool=st.booleans(),
    ops=st.lists(mutation, min_size=1, max_size=4),
)
def test_any_mutated_answer_is_read_or_malformed(
    kind: str, tool: bool, ops: list[tuple[Any, ...]]
) -> None:
    data = mutate(body(kind, tool), ops)
    try:
        completion = read(kind, data, tool)
    except MalformedResponse:
        return  # retryable by class: the chain goes on
    assert well_formed(completion)


# Shapes that escaped decode as an AttributeError or passed through as content, ids or names
# that are not text (the client then saw INTERNAL), three per codec.
WRONG_SHAPES = {
    "oai": [
        {"choices": [{"message": "hello"}]},
        {"choices": [{"message": {"content": 5}}], "usage": {}},
        {"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"name": ["f"]}}]}}]},
    ],
    "anth": [
        {"content": [{"type": "tool_use", "id": 1, "name": "f"}], "usage": {}},
        {"content": [{"type": "tool_use", "id": "t", "name": None}], "usage": {}},
        {"content": None, "usage": {}},
    ],
    "olla": [
        {"message": "hello", "done": True},
        {"message": {"content": ["a"]}, "done": True},
        {"message": {"content": "hi", "tool_calls": [{"function": 1}]}, "done": True},
    ],
}


async def test_a_malformed_whole_answer_fails_over_with_its_ledger_row(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    models = (model("x_oai"), model("x_anth", "anth"), model("x_olla", "olla"), model("b"))
    _, stub = await make_router(models, ("x_oai", "x_anth", "x_olla", "b"), retry=ONE_TRY)

    metrics: FakeMetrics = fake_metrics[0]
    # One router, the shapes one after another: each request walks past all three.
    for round_ in range(3):
        for provider, shapes in WRONG_SHAPES.items():
            raw = json.dumps(shapes[round_]).encode()
            upstream.set(f"x_{provider}", Behavior(raw_body=raw))
        reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
        assert reply.model == "b"
        assert reply.message.content == "Hello from b."
        assert [(a.model, a.error_type) for a in reply.attempts] == [
            ("x_oai", "MALFORMED_RESPONSE"),
            ("x_anth", "MALFORMED_RESPONSE"),
            ("x_olla", "MALFORMED_RESPONSE"),
            ("b", ""),
        ]
        # Every attempt is booked, the malformed ones with their reason.
        await wait_for(lambda n=round_: len(metrics.records) == 4 * (n + 1))
    failed = [r for r in metrics.records.values() if r.model != "b"]
    assert len(failed) == 9
    assert {r.error_type for r in failed} == {"MALFORMED_RESPONSE"}
