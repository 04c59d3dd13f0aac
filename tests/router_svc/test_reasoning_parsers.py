"""Every codec reads a model's reasoning text apart from its answer, whole and streamed
(issue 16: reasoning/thinking text is never dropped): OpenAI-compatible ``reasoning_content``
(DeepSeek, vLLM) and ``reasoning`` (OpenRouter, vLLM >= 0.11), Anthropic's thinking blocks
(``thinking_delta`` pieces, a ``signature_delta`` without text, ``redacted_thinking`` without
any), Ollama's ``message.thinking``. A reasoning of the wrong type is the classified
MALFORMED_RESPONSE like any other field; mutated streams with reasoning end in an answer or a
classified error, never an exception that escapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router_svc.chat import ChatRequest, Message, StreamDelta
from router_svc.errors import MalformedResponse, ProviderError
from router_svc.providers import ProviderCall
from router_svc.providers.http import well_formed
from tests.fakes._answer import Reported, make_answer

from .test_stream_parsers import (
    KINDS,
    PROVIDERS,
    TEXT,
    Shape,
    answer_of,
    mutate,
    mutation,
    run,
    sample,
)

THOUGHT = "Two facts to weigh: the fox is quick, the dog is lazy. So: twice over."
# (kind, reasoning keys): one row per dialect; the keys matter to OpenAI-compatible ones only.
DIALECTS = [
    ("openai", ("reasoning_content",)),
    ("openai", ("reasoning",)),
    ("openai", ("reasoning_content", "reasoning")),
    ("anthropic", ("reasoning_content",)),
    ("ollama", ("reasoning_content",)),
]
IDS = ["deepseek-vllm", "openrouter", "vllm-both", "anthropic", "ollama"]


def thinking(keys: tuple[str, ...] = ("reasoning_content",), **more: Any) -> Shape:
    return Shape(reported=Reported(reasoning=THOUGHT, reasoning_keys=keys, **more))


def reasoning_of(events: list[Any]) -> str:
    return "".join(e.reasoning_content for e in events if isinstance(e, StreamDelta))


def read(kind: str, data: Any) -> Any:
    request = ChatRequest(model="m", messages=(Message("user", "hi"),))
    return PROVIDERS[kind].read_answer(ProviderCall("m", request, 5.0), json.dumps(data).encode())


def whole(kind: str, reported: Reported) -> Any:
    """The fake's whole answer for ``kind`` as parsed JSON."""
    request: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    answer = make_answer(request, seq=1, chunks=4, max_tokens=None, text=TEXT, reported=reported)
    return KINDS[kind][1].reply(answer)


@pytest.mark.parametrize(("kind", "keys"), DIALECTS, ids=IDS)
def test_a_whole_answer_has_its_reasoning_apart_from_its_text(
    kind: str, keys: tuple[str, ...]
) -> None:
    completion = read(kind, whole(kind, Reported(reasoning=THOUGHT, reasoning_keys=keys)))
    assert completion.reasoning_content == THOUGHT
    assert completion.content == TEXT


@pytest.mark.parametrize(("kind", "keys"), DIALECTS, ids=IDS)
def test_a_stream_has_its_reasoning_apart_from_its_text(kind: str, keys: tuple[str, ...]) -> None:
    s = sample(kind, False, 5, thinking(keys))
    events = run(kind, s.payloads)
    text, _, end = answer_of(events)
    assert (reasoning_of(events), text) == (THOUGHT, TEXT)
    assert end.finish_reason == "stop"
    # No delta carries both: the reasoning pieces come first, then the text.
    deltas = [e for e in events if isinstance(e, StreamDelta)]
    assert [bool(d.reasoning_content) for d in deltas[:2]] == [True, True]
    assert not any(d.content for d in deltas[:2])
    assert not any(d.reasoning_content for d in deltas[2:])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_no_reasoning_reads_as_none(kind: str) -> None:
    assert read(kind, whole(kind, Reported())).reasoning_content == ""
    assert reasoning_of(run(kind, sample(kind, False, 4).payloads)) == ""


# Anthropic's streamed example ("Building with extended thinking", streaming): a thinking
# block, its thinking_delta pieces and a signature_delta, a redacted_thinking block, then text.
ANTHROPIC_STREAM: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude",
            "stop_reason": None,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        },
    },
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "1071 = 2 x 462 + 147"},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "; 462 = 3 x 147 + 21"},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrk"},
    },
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
    },
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "text_delta", "text": "The GCD is "},
    },
    {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "21."}},
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 42},
    },
    {"type": "message_stop"},
]


def test_anthropic_thinking_signature_redacted_and_text_blocks() -> None:
    events = run("anthropic", [json.dumps(event) for event in ANTHROPIC_STREAM])
    text, _, end = answer_of(events)
    assert text == "The GCD is 21."
    assert reasoning_of(events) == "1071 = 2 x 462 + 147; 462 = 3 x 147 + 21"
    assert (end.finish_reason, end.usage.completion_tokens) == ("stop", 42)
    # Neither the signature nor the redacted block's data is relayed as anything.
    relayed = json.dumps([repr(e) for e in events])
    assert "EqQBCgIYAhIM" not in relayed
    assert "EmwKAhgB" not in relayed


def test_anthropic_redacted_thinking_alone_does_not_fail() -> None:
    # Whole and streamed: a redacted_thinking block (no text) before the answer.
    completion = read("anthropic", whole("anthropic", Reported(redacted_thinking=True)))
    assert (completion.content, completion.reasoning_content) == (TEXT, "")
    redacted = Shape(reported=Reported(redacted_thinking=True))
    events = run("anthropic", sample("anthropic", False, 4, redacted).payloads)
    assert answer_of(events)[0] == TEXT
    assert reasoning_of(events) == ""


def test_a_thinking_block_that_opens_with_text_keeps_it() -> None:
    events = [dict(event) for event in ANTHROPIC_STREAM]
    events[1] = {**events[1], "content_block": {"type": "thinking", "thinking": "Euclid: "}}
    decoded = run("anthropic", [json.dumps(event) for event in events])
    assert reasoning_of(decoded) == "Euclid: 1071 = 2 x 462 + 147; 462 = 3 x 147 + 21"


# A reasoning of another type than text, where each kind carries it.
WRONG: dict[str, list[tuple[Any, ...]]] = {
    "openai": [
        ("choices", 0, "message", "reasoning_content"),
        ("choices", 0, "message", "reasoning"),
    ],
    "anthropic": [("content", 0, "thinking")],
    "ollama": [("message", "thinking")],
}


@pytest.mark.parametrize(
    ("kind", "path"), [(kind, path) for kind, paths in WRONG.items() for path in paths]
)
@pytest.mark.parametrize("value", [5, ["a"], {"text": "a"}, True])
def test_a_reasoning_that_is_not_text_is_a_malformed_answer(
    kind: str, path: tuple[Any, ...], value: Any
) -> None:
    data = whole(kind, Reported(reasoning=THOUGHT))
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    with pytest.raises(MalformedResponse) as caught:
        read(kind, data)
    assert caught.value.retryable


def _bad_reasoning(kind: str, payload: str) -> str:
    """``payload`` (a reasoning piece) with the piece replaced by a number."""
    event = json.loads(payload)
    if kind == "openai":
        event["choices"][0]["delta"]["reasoning_content"] = 7
    elif kind == "anthropic":
        event["delta"]["thinking"] = 7
    else:
        event["message"]["thinking"] = 7
    return json.dumps(event)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_streamed_reasoning_piece_that_is_not_text(kind: str) -> None:
    s = sample(kind, False, 4, thinking())
    payloads = list(s.payloads)
    first = next(i for i, p in enumerate(payloads) if THOUGHT[:10] in p)
    # Before any content: the stream fails, classified (the chain goes on).
    bad = [*payloads[:first], _bad_reasoning(kind, payloads[first]), *payloads[first + 1 :]]
    with pytest.raises(MalformedResponse):
        run(kind, bad)
    # After content was relayed: that chunk is skipped, the rest of the answer comes.
    second = first + 1
    bad = [*payloads[:second], _bad_reasoning(kind, payloads[second]), *payloads[second + 1 :]]
    events = run(kind, bad)
    assert answer_of(events)[0] == TEXT
    assert reasoning_of(events) == THOUGHT[: len(THOUGHT) - len(THOUGHT) // 2]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dialect=st.sampled_from(DIALECTS),
    tool=st.booleans(),
    redacted=st.booleans(),
    chunks=st.integers(1, 8),
    ops=st.lists(mutation, min_size=1, max_size=5),
)
def test_mutated_streams_with_reasoning_end_in_an_answer_or_a_classified_error(
    dialect: tuple[str, tuple[str, ...]],
    tool: bool,
    redacted: bool,
    chunks: int,
    ops: list[tuple[Any, ...]],
) -> None:
    kind, keys = dialect
    s = sample(kind, tool, chunks, thinking(keys, redacted_thinking=redacted))
    try:
        events = run(kind, mutate(s.payloads, ops), tool)
    except ProviderError:
        return
    answer_of(events)  # one end, last
    for event in events:
        if isinstance(event, StreamDelta):
            assert isinstance(event.reasoning_content, str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dialect=st.sampled_from(DIALECTS),
    where=st.sampled_from([("choices", 0, "message"), ("message",), ("content", 0)]),
    value=st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.text(), max_size=2)),
)
def test_any_reasoning_value_is_read_or_malformed(
    dialect: tuple[str, tuple[str, ...]], where: tuple[Any, ...], value: Any
) -> None:
    kind, keys = dialect
    data = whole(kind, Reported(reasoning=THOUGHT, reasoning_keys=keys))
    parent: Any = data
    try:
        for step in where:
            parent = parent[step]
    except (KeyError, IndexError):
        return  # another kind's path
    for key in ("reasoning_content", "reasoning", "thinking"):
        if key in parent:
            parent[key] = value
    try:
        completion = read(kind, data)
    except MalformedResponse:
        assert not isinstance(value, str | None)
        return
    assert well_formed(completion)
    assert isinstance(value, str | None)
