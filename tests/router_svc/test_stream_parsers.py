"""Every stream parser against mutated event sequences: whatever arrives, the outcome is a
classified error or a correct answer, never an exception that escapes.

The well-formed sequences are the fake upstream's (written from each provider's reference),
fed to the adapters' decoders as the HTTP layer would (SSE ``data`` payloads or NDJSON lines).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router_svc.chat import ChatRequest, Message, StreamDelta, StreamEnd, Tool
from router_svc.config import ProviderConfig
from router_svc.errors import ConnectionFailed, ProviderError
from router_svc.providers import ProviderCall, create_provider
from router_svc.providers.http import HttpProvider
from router_svc.providers.lenient import MAX_SKIPPED_IN_A_ROW
from tests.fakes._answer import Reported, WireFormat, make_answer
from tests.fakes._anthropic import AnthropicMessages
from tests.fakes._ollama import OllamaChat
from tests.fakes._openai import OpenAIChat

TEXT = "The quick brown fox jumps over the lazy dog, twice over."
WEATHER = Tool("get_weather", "", '{"type":"object"}')
KINDS: dict[str, tuple[str, WireFormat]] = {
    "openai": ("sse", OpenAIChat()),
    "anthropic": ("sse", AnthropicMessages()),
    "ollama": ("ndjson", OllamaChat()),
}
# Which frame of the fake's tail carries the finish reason: OpenAI's finish chunk (before the
# usage chunk and [DONE]), Anthropic's message_delta (after content_block_stop), Ollama's done
# line.
FINISH_FRAME = {"openai": 0, "anthropic": 1, "ollama": 0}
GARBAGE = st.one_of(
    st.just('{"id":"chatcmpl-broken","choices":['),
    st.just("not json"),
    st.just(""),
    st.text(max_size=30),
)


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


# Garbage that is not JSON at all (valid JSON of no interest, like {}, may rightly be ignored).
NOT_JSON = GARBAGE.filter(_not_json)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@dataclass(frozen=True)
class Shape:
    """How a stream reports its usage and its tool input (the fake's defaults when unset)."""

    prompt_tokens: int | None = None
    arguments: dict[str, Any] | None = None
    reported: Reported = field(default_factory=Reported)


@dataclass(frozen=True)
class Sample:
    """A well-formed stream: its payloads, where content starts and where the finish is."""

    payloads: tuple[str, ...]
    first_content: int  # index of the first content piece (a tool call opens earlier)
    finish: int  # index of the first payload after which the stream is finished
    text: str
    tool: bool


def provider(kind: str) -> HttpProvider:
    made = create_provider(ProviderConfig(name=kind, kind=kind, base_url="https://example.com"))
    assert isinstance(made, HttpProvider)
    return made


PROVIDERS = {kind: provider(kind) for kind in KINDS}


def request(tool: bool) -> ChatRequest:
    return ChatRequest(
        model="m", messages=(Message("user", "hi"),), tools=(WEATHER,) if tool else ()
    )


def sample(kind: str, tool: bool, chunks: int, shape: Shape | None = None) -> Sample:
    """The fake's stream for ``kind``; ``shape`` varies how it reports usage and tool input."""
    shape = shape or Shape()
    framing, wire = KINDS[kind]
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tool:
        body["tools"] = [{"type": "function", "function": {"name": "get_weather"}}]
    answer = make_answer(
        body,
        seq=1,
        chunks=chunks,
        max_tokens=None,
        text=TEXT,
        prompt_tokens=shape.prompt_tokens,
        arguments=shape.arguments,
        reported=shape.reported,
    )
    stream = wire.stream(answer, body)
    frames = [*stream.head, *stream.pieces, *stream.tail]
    payloads: list[str] = []
    starts: list[int] = []
    for i, frame in enumerate(frames):
        if i == len(stream.head):
            starts.append(len(payloads))
        for line in frame.decode().splitlines():
            if framing == "sse" and line.startswith("data:"):
                payloads.append(line[5:].strip())
            elif framing == "ndjson" and line.strip():
                payloads.append(line)
    # Finished once the tail frame carrying the finish reason has arrived.
    finish = len(payloads) - len(stream.tail) + FINISH_FRAME[kind] + 1
    return Sample(tuple(payloads), starts[0], finish, answer.text, tool)


async def _feed(items: Sequence[str | ProviderError]) -> AsyncIterator[str]:
    for item in items:
        if isinstance(item, ProviderError):
            raise item
        yield item


async def _run(kind: str, items: Sequence[str | ProviderError], tool: bool) -> list[Any]:
    source = PROVIDERS[kind].decode_stream(ProviderCall("m", request(tool), 5.0), _feed(items))
    return [event async for event in source]


def run(kind: str, items: Sequence[str | ProviderError], tool: bool = False) -> list[Any]:
    """The events decoded from ``items`` (a ProviderError among them breaks the connection)."""
    return asyncio.run(_run(kind, items, tool))


def answer_of(events: list[Any]) -> tuple[str, str, StreamEnd]:
    """(text, tool arguments, end) of a decoded stream, checking it ends exactly once."""
    assert isinstance(events[-1], StreamEnd)
    assert not any(isinstance(e, StreamEnd) for e in events[:-1])
    deltas = [e for e in events if isinstance(e, StreamDelta)]
    text = "".join(d.content for d in deltas)
    arguments = "".join(c.arguments for d in deltas for c in d.tool_calls)
    return text, arguments, events[-1]


def check_correct(events: list[Any], s: Sample) -> None:
    text, arguments, end = answer_of(events)
    if s.tool:
        assert json.loads(arguments) == {"city": "Paris"}
        assert end.finish_reason == "tool_calls"
    else:
        assert text == s.text
        assert end.finish_reason == "stop"
    assert end.usage.prompt_tokens > 0
    assert end.usage.completion_tokens > 0


mutation = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 200)),
    st.tuples(st.just("dup"), st.integers(0, 200)),
    st.tuples(st.just("swap"), st.integers(0, 200)),
    st.tuples(st.just("garbage"), st.integers(0, 200), GARBAGE),
    st.tuples(st.just("truncate"), st.integers(0, 200), st.integers(0, 60)),
    st.tuples(st.just("json"), st.integers(0, 200), JSON),
    st.tuples(st.just("cut"), st.integers(0, 200)),
    st.tuples(st.just("break"), st.integers(0, 200)),
)


def mutate(payloads: tuple[str, ...], ops: list[tuple[Any, ...]]) -> list[str | ProviderError]:
    items: list[str | ProviderError] = list(payloads)
    for op in ops:
        if not items:
            break
        i = op[1] % len(items)
        if op[0] == "drop":
            del items[i]
        elif op[0] == "dup":
            items.insert(i, items[i])
        elif op[0] == "swap" and i + 1 < len(items):
            items[i], items[i + 1] = items[i + 1], items[i]
        elif op[0] == "garbage":
            items.insert(i, op[2])
        elif op[0] == "truncate" and isinstance(items[i], str):
            items[i] = str(items[i])[: op[2]]
        elif op[0] == "json":
            items[i] = json.dumps(op[2])
        elif op[0] == "cut":
            del items[i:]
        elif op[0] == "break":
            items[i:] = [ConnectionFailed("p cut the response short")]
    return items


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(KINDS)),
    tool=st.booleans(),
    chunks=st.integers(1, 12),
    ops=st.lists(mutation, min_size=1, max_size=5),
)
def test_any_mutation_ends_in_an_answer_or_a_classified_error(
    kind: str, tool: bool, chunks: int, ops: list[tuple[Any, ...]]
) -> None:
    s = sample(kind, tool, chunks)
    try:
        events = run(kind, mutate(s.payloads, ops), tool)
    except ProviderError:
        return
    answer_of(events)  # one end, last


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    tool=st.booleans(),
    chunks=st.integers(2, 12),
    where=st.integers(0, 100),
    garbage=st.lists(NOT_JSON, min_size=1, max_size=MAX_SKIPPED_IN_A_ROW),
)
def test_garbage_after_the_first_content_is_skipped(
    kind: str, tool: bool, chunks: int, where: int, garbage: list[str]
) -> None:
    s = sample(kind, tool, chunks)
    # Anywhere after the first content, before the last payload.
    at = s.first_content + 1 + where % (len(s.payloads) - s.first_content - 1)
    items = [*s.payloads[:at], *garbage, *s.payloads[at:]]
    check_correct(run(kind, items, tool), s)


@settings(max_examples=50, deadline=None)
@given(kind=st.sampled_from(sorted(KINDS)), chunks=st.integers(1, 12), garbage=NOT_JSON)
def test_garbage_before_the_first_content_fails(kind: str, chunks: int, garbage: str) -> None:
    s = sample(kind, False, chunks)
    items = [*s.payloads[: s.first_content], garbage, *s.payloads[s.first_content :]]
    with pytest.raises(ProviderError):
        run(kind, items)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_too_many_bad_chunks_in_a_row_fail(kind: str) -> None:
    s = sample(kind, False, 8)
    at = s.first_content + 2
    items = [*s.payloads[:at], *["{oops"] * (MAX_SKIPPED_IN_A_ROW + 1), *s.payloads[at:]]
    with pytest.raises(ProviderError, match="invalid stream chunks in a row"):
        run(kind, items)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    tool=st.booleans(),
    chunks=st.integers(1, 12),
    where=st.integers(0, 100),
    broken=st.booleans(),
)
def test_a_stream_ended_early_is_an_answer_exactly_when_it_had_finished(
    kind: str, tool: bool, chunks: int, where: int, broken: bool
) -> None:
    s = sample(kind, tool, chunks)
    stop = where % len(s.payloads)  # payloads kept; the rest never comes
    items: list[str | ProviderError] = list(s.payloads[:stop])
    if broken:
        items.append(ConnectionFailed("p cut the response short"))
    if stop >= s.finish:
        check_correct(run(kind, items, tool), s)
    else:
        with pytest.raises(ProviderError):
            run(kind, items, tool)


def test_ollama_line_with_done_reason_but_no_done_finishes() -> None:
    s = sample("ollama", False, 4)
    last = json.loads(s.payloads[-1])
    del last["done"]
    events = run("ollama", [*s.payloads[:-1], json.dumps(last)])
    check_correct(events, s)
    assert events[-1].usage.completion_tokens == 4  # the eval count it carried


# Valid JSON of the wrong shape, three per protocol: each once escaped the parser as a
# TypeError or AttributeError instead of being classified.
WRONG_SHAPES = [
    ("openai", '{"choices": [1]}'),
    ("openai", '{"choices": [{"delta": {"content": 5}}]}'),
    ("openai", '{"choices": [], "usage": {"prompt_tokens": "many"}}'),
    ("anthropic", '{"type": "message_delta", "usage": 7}'),
    ("anthropic", '{"type": "content_block_delta", "index": 0, "delta": "text"}'),
    ("anthropic", '{"type": "message_delta", "delta": {"stop_reason": ["end_turn"]}}'),
    ("ollama", '{"message": "text", "done": false}'),
    ("ollama", '{"message": {"content": ["a"]}, "done": false}'),
    ("ollama", '{"message": {"tool_calls": [{"function": 1}]}, "done": false}'),
]


@pytest.mark.parametrize(("kind", "payload"), WRONG_SHAPES)
def test_a_chunk_of_the_wrong_shape_is_skipped_mid_stream(kind: str, payload: str) -> None:
    s = sample(kind, False, 6)
    at = s.first_content + 2
    check_correct(run(kind, [*s.payloads[:at], payload, *s.payloads[at:]]), s)
    # Before any content it is the stream's (classified) failure.
    items = [*s.payloads[: s.first_content], payload, *s.payloads[s.first_content :]]
    with pytest.raises(ProviderError):
        run(kind, items)
