"""Tool calls read whole and streamed, in every dialect (issue 16: nothing a provider returns is
silently lost; tool calls with valid JSON arguments).

Streamed parallel calls are told apart however the server numbers them: by ``index`` (OpenAI's
reference), without it (Gemini's OpenAI-compatible endpoint, one call per chunk or all in
one), or all at index 0 with their own ids; each comes out as its own call, with a distinct
index, its id and name once and its own arguments. Arguments sent as a JSON object or array
are JSON text, the same whole and streamed; any other non-string is malformed, classified,
never an exception that escapes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router_svc.chat import ChatRequest, Message, StreamDelta, ToolCall
from router_svc.errors import MalformedResponse, ProviderError
from router_svc.providers import ProviderCall
from tests.fakes._answer import Reported, make_answer

from .test_stream_parsers import KINDS, PROVIDERS, Shape, mutate, mutation, run, sample

PARIS, ROME = {"city": "Paris"}, {"city": "Rome"}
# (id, how the server streams two parallel calls): one row per dialect (Behavior's fields).
DIALECTS = [
    ("openai", Reported(more_tool_calls=(ROME,))),
    ("gemini-one-per-chunk", Reported(more_tool_calls=(ROME,), tool_call_index="absent")),
    (
        "gemini-together",
        Reported(more_tool_calls=(ROME,), tool_call_index="absent", tool_calls_together=True),
    ),
    ("index-always-zero", Reported(more_tool_calls=(ROME,), tool_call_index="zero")),
    ("arguments-objects", Reported(more_tool_calls=(ROME,), tool_arguments_object=True)),
    (
        "gemini-arguments-objects",
        Reported(more_tool_calls=(ROME,), tool_call_index="absent", tool_arguments_object=True),
    ),
]
IDS = [row[0] for row in DIALECTS]


def calls_of(events: list[Any]) -> dict[int, dict[str, str]]:
    """The calls a client assembles from the deltas: each index's id, name and arguments
    joined (as the ``openai`` package's stream helpers join them)."""
    calls: dict[int, dict[str, str]] = {}
    for event in events:
        if isinstance(event, StreamDelta):
            for d in event.tool_calls:
                call = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += d.id
                call["name"] += d.name
                call["arguments"] += d.arguments
    return calls


def whole(kind: str, reported: Reported) -> Any:
    """The fake's whole answer with a tool call, as parsed JSON."""
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
    }
    answer = make_answer(body, seq=1, chunks=4, max_tokens=None, reported=reported)
    return KINDS[kind][1].reply(answer)


def read(kind: str, data: Any) -> Any:
    request = ChatRequest(model="m", messages=(Message("user", "hi"),))
    return PROVIDERS[kind].read_answer(ProviderCall("m", request, 5.0), json.dumps(data).encode())


@pytest.mark.parametrize("reported", [row[1] for row in DIALECTS], ids=IDS)
@pytest.mark.parametrize("chunks", [1, 4])
def test_parallel_calls_stream_as_distinct_calls(reported: Reported, chunks: int) -> None:
    events = run("openai", sample("openai", True, chunks, Shape(reported=reported)).payloads, True)
    calls = calls_of(events)
    assert sorted(calls) == [0, 1]
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [PARIS, ROME]
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_weather"]
    assert calls[0]["id"] == "call_fake000001"
    assert calls[1]["id"] == "call_fake000001_1"
    assert events[-1].finish_reason == "tool_calls"


@pytest.mark.parametrize("reported", [row[1] for row in DIALECTS], ids=IDS)
def test_parallel_calls_read_whole(reported: Reported) -> None:
    completion = read("openai", whole("openai", reported))
    assert [(c.id, c.name, json.loads(c.arguments)) for c in completion.tool_calls] == [
        ("call_fake000001", "get_weather", PARIS),
        ("call_fake000001_1", "get_weather", ROME),
    ]


def chunk(*entries: Any, finish: str | None = None) -> str:
    delta = {"tool_calls": list(entries)} if entries else {}
    return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


END = [chunk(finish="tool_calls"), "[DONE]"]


def call(arguments: Any = "", **fields: Any) -> dict[str, Any]:
    """A ``delta.tool_calls`` entry; ``name`` goes into ``function``."""
    function: dict[str, Any] = {"arguments": arguments}
    if "name" in fields:
        function["name"] = fields.pop("name")
    return {**fields, "function": function}


def test_indexless_arguments_in_pieces_continue_their_call() -> None:
    # Gemini may split a call's arguments across deltas without index (open-webui/computer#224).
    events = run(
        "openai",
        [
            chunk(call('{"city":', id="a", name="get_weather")),
            chunk(call('"Paris"}')),
            chunk(call('{"city":"Rome"}', id="b", name="get_weather")),
            *END,
        ],
    )
    calls = calls_of(events)
    assert [(c["id"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("a", PARIS),
        ("b", ROME),
    ]


def test_a_second_indexless_entry_without_id_is_another_call() -> None:
    events = run(
        "openai",
        [chunk(call('{"city":"Paris"}', name="f"), call('{"city":"Rome"}', name="f")), *END],
    )
    assert [json.loads(c["arguments"]) for c in calls_of(events).values()] == [PARIS, ROME]


def test_an_id_and_name_repeated_on_every_fragment_are_relayed_once() -> None:
    events = run(
        "openai",
        [
            chunk(call("", index=0, id="a", name="get_weather")),
            chunk(call('{"city":', index=0, id="a", name="get_weather")),
            chunk(call('"Paris"}', id="a", name="get_weather")),
            *END,
        ],
    )
    assert calls_of(events) == {
        0: {"id": "a", "name": "get_weather", "arguments": json.dumps(PARIS, separators=(",", ":"))}
    }


def test_an_entry_with_nothing_of_a_call_is_no_call() -> None:
    # Gemini's thought signature may come alone in an entry (open-webui/computer#224).
    metadata = {"extra_content": {"google": {"thought_signature": "c2ln"}}}
    events = run(
        "openai",
        [chunk(call('{"city":"Paris"}', id="a", name="f")), chunk(call(**metadata)), *END],
    )
    assert calls_of(events) == {0: {"id": "a", "name": "f", "arguments": '{"city":"Paris"}'}}


def test_an_id_that_comes_late_stays_with_its_call() -> None:
    events = run(
        "openai",
        [
            chunk(call("", index=0, name="f")),
            chunk(call('{"city":"Paris"}', index=0, id="a")),
            *END,
        ],
    )
    assert calls_of(events) == {0: {"id": "a", "name": "f", "arguments": '{"city":"Paris"}'}}


# Arguments as JSON text, whatever JSON the server gave (one rule, whole and streamed).
ARGUMENTS = [
    ('{"city":"Paris"}', '{"city":"Paris"}'),
    ({"city": "Paris"}, '{"city":"Paris"}'),
    ([1, 2], "[1,2]"),
    ({}, "{}"),
]
NOT_ARGUMENTS = [5, 1.5, True]


@pytest.mark.parametrize(("given", "text"), ARGUMENTS)
def test_arguments_are_json_text_whole_and_streamed(given: Any, text: str) -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": given}}
        ],
    }
    answer = {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    assert read("openai", answer).tool_calls == (ToolCall("a", "f", text),)
    events = run("openai", [chunk(call(given, index=0, id="a", name="f")), *END])
    assert calls_of(events) == {0: {"id": "a", "name": "f", "arguments": text}}


@pytest.mark.parametrize("given", NOT_ARGUMENTS)
def test_other_arguments_are_malformed_whole_and_streamed(given: Any) -> None:
    message = {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f"}}]}
    message["tool_calls"][0]["function"]["arguments"] = given
    answer = {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    with pytest.raises(MalformedResponse):
        read("openai", answer)
    # Before the first token the stream fails (and fails over); after it, the chunk is skipped.
    with pytest.raises(MalformedResponse):
        run("openai", [chunk(call(given, index=0, id="a", name="f")), *END])
    good = chunk(call('{"city":"Paris"}', index=0, id="a", name="f"))
    events = run("openai", [good, chunk(call(given, index=1, id="b", name="f")), *END])
    assert calls_of(events) == {0: {"id": "a", "name": "f", "arguments": '{"city":"Paris"}'}}


@pytest.mark.parametrize("index", ["0", 1.5, -1, True, [0]])
def test_an_index_that_is_not_an_index_is_malformed(index: Any) -> None:
    with pytest.raises(MalformedResponse):
        run("openai", [chunk(call("{}", index=index, id="a", name="f")), *END])


@pytest.mark.parametrize(("given", "text"), ARGUMENTS)
def test_ollama_arguments_follow_the_same_rule(given: Any, text: str) -> None:
    # Ollama's reference sends an object; a server of that API sending JSON text is not
    # double-encoded into a JSON string.
    line = {
        "model": "m",
        "message": {"role": "assistant", "content": "", "tool_calls": []},
        "done": True,
        "done_reason": "stop",
    }
    line["message"]["tool_calls"] = [{"function": {"name": "f", "arguments": given}}]
    assert read("ollama", line).tool_calls[0].arguments == text
    events = run("ollama", [json.dumps(line)])
    assert [c["arguments"] for c in calls_of(events).values()] == [text]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    row=st.sampled_from(DIALECTS),
    chunks=st.integers(1, 8),
    ops=st.lists(mutation, min_size=1, max_size=5),
)
def test_mutated_parallel_call_streams_end_in_calls_or_a_classified_error(
    row: tuple[str, Reported], chunks: int, ops: list[tuple[Any, ...]]
) -> None:
    s = sample("openai", True, chunks, Shape(reported=row[1]))
    try:
        events = run("openai", mutate(s.payloads, ops), True)
    except ProviderError:
        return
    calls = calls_of(events)
    # Whatever was lost, indices are distinct and each call's id came once.
    assert len({c["id"] for c in calls.values() if c["id"]}) == sum(
        1 for c in calls.values() if c["id"]
    )
    assert all(c["id"] in ("", "call_fake000001", "call_fake000001_1") for c in calls.values())
    assert all(c["name"] in ("", "get_weather") for c in calls.values())
