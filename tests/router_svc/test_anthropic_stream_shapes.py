"""Anthropic's documented stream variations, property-tested like every stream parser (see
:mod:`.test_stream_parsers`): usage late or split around the prompt cache, tool input in
pieces, empty or whole; whatever arrives, a correct answer or a classified error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router_svc.errors import MalformedResponse, ProviderError
from tests.fakes._answer import Reported

from .test_stream_parsers import JSON, Sample, Shape, answer_of, mutate, mutation, run, sample

# Anthropic's documented variations (Messages API reference: usage with the cache counts;
# "Streaming Messages": message_start's usage may be absent or 0 with the cumulative counts
# in message_delta; a tool_use input in input_json_delta pieces, empty ones for a tool without
# parameters, or whole in content_block_start).
# The cache writes split by lifetime (``usage.cache_creation``), the 1-hour part at most all.
WRITES = st.integers(0, 5000).flatmap(lambda w: st.tuples(st.just(w), st.integers(0, w)))
ANTHROPIC_SHAPES = st.builds(
    Shape,
    prompt_tokens=st.integers(1, 5000),
    arguments=st.sampled_from([None, {}]),
    reported=st.builds(
        lambda writes, **fields: Reported(
            cache_write_tokens=writes[0], cache_write_1h_tokens=writes[1], **fields
        ),
        writes=WRITES,
        cache_read_tokens=st.integers(0, 5000),
        start_usage=st.sampled_from(["full", "zero", "absent"]),
        tool_input_whole=st.booleans(),
    ),
)


def check_shape(events: list[Any], s: Sample, shape: Shape) -> None:
    """A correct answer to ``shape``: its arguments (``{}`` for none) and its whole prompt."""
    text, arguments, end = answer_of(events)
    reported = shape.reported
    if s.tool:
        expected = {"city": "Paris"} if shape.arguments is None else shape.arguments
        assert json.loads(arguments) == expected
    else:
        assert text == s.text
    assert end.usage.prompt_tokens == (
        (shape.prompt_tokens or 0) + reported.cache_read_tokens + reported.cache_write_tokens
    )
    assert end.usage.cache_read_tokens == reported.cache_read_tokens
    assert end.usage.cache_write_tokens == reported.cache_write_tokens
    # The 1-hour writes come with message_start's usage; message_delta's has no lifetime split
    # (API reference, MessageDeltaUsage), so counts reported only there are 5-minute writes.
    hour = reported.cache_write_1h_tokens if reported.start_usage == "full" else 0
    assert end.usage.cache_write_1h_tokens == hour
    assert end.usage.completion_tokens > 0


@settings(max_examples=150, deadline=None)
@given(tool=st.booleans(), chunks=st.integers(1, 12), shape=ANTHROPIC_SHAPES)
def test_anthropic_usage_and_tool_input_in_every_documented_shape(
    tool: bool, chunks: int, shape: Shape
) -> None:
    s = sample("anthropic", tool, chunks, shape)
    check_shape(run("anthropic", s.payloads, tool), s, shape)


@settings(max_examples=150, deadline=None)
@given(
    tool=st.booleans(),
    chunks=st.integers(1, 12),
    shape=ANTHROPIC_SHAPES,
    ops=st.lists(mutation, min_size=1, max_size=5),
)
def test_anthropic_shapes_mutated_end_in_an_answer_or_a_classified_error(
    tool: bool, chunks: int, shape: Shape, ops: list[tuple[Any, ...]]
) -> None:
    s = sample("anthropic", tool, chunks, shape)
    try:
        events = run("anthropic", mutate(s.payloads, ops), tool)
    except ProviderError:
        return
    answer_of(events)  # one end, last


@settings(max_examples=100, deadline=None)
@given(tool=st.booleans(), shape=ANTHROPIC_SHAPES, start=JSON)
def test_any_message_start_is_read_or_a_retryable_malformed_response(
    tool: bool, shape: Shape, start: Any
) -> None:
    """message_start's message and usage of any shape: read, or a classified, retryable
    MALFORMED_RESPONSE before any content (failover goes on), never an escaping exception."""
    s = sample("anthropic", tool, 4, shape)
    message = json.loads(s.payloads[0])["message"]
    variants = [start, {**message, "usage": start}]
    for variant in variants:
        payload = json.dumps({"type": "message_start", "message": variant})
        try:
            events = run("anthropic", [payload, *s.payloads[1:]], tool)
        except ProviderError as error:
            caught = error
        else:
            answer_of(events)
            continue
        assert isinstance(caught, MalformedResponse)
        assert caught.retryable


@pytest.mark.parametrize("usage", [None, {}, {"input_tokens": 0}, {"input_tokens": None}])
def test_a_message_start_without_input_counts_takes_them_from_message_delta(usage: Any) -> None:
    reported = Reported(start_usage="absent", cache_read_tokens=7)
    s = sample("anthropic", False, 4, Shape(prompt_tokens=1234, reported=reported))
    start = json.loads(s.payloads[0])
    if usage is not None:
        start["message"]["usage"] = usage
    events = run("anthropic", [json.dumps(start), *s.payloads[1:]])
    assert events[-1].usage.prompt_tokens == 1241


def lifetimes(write: int, hour: int) -> dict[str, Any]:
    """A usage object's cache writes: the total and its split by cache lifetime."""
    return {
        "cache_creation_input_tokens": write,
        "cache_creation": {
            "ephemeral_5m_input_tokens": write - hour,
            "ephemeral_1h_input_tokens": hour,
        },
    }


@pytest.mark.parametrize(
    ("start", "delta", "hour"),
    [
        # message_start counts no cache writes; message_delta's cumulative usage has them with
        # their split (as servers that count late send it): 1000 1-hour, 2000 5-minute.
        ({"input_tokens": 12, **lifetimes(0, 0)}, lifetimes(3000, 1000), 1000),
        # No usage at the start at all: the same.
        (None, lifetimes(3000, 1000), 1000),
        # The split at the start, the cumulative total alone at the end (the reference's
        # shape): the start's split stands.
        (
            {"input_tokens": 12, **lifetimes(3000, 1000)},
            {"cache_creation_input_tokens": 3000},
            1000,
        ),
        # Both with a split: the latest one.
        ({"input_tokens": 12, **lifetimes(1000, 600)}, lifetimes(3000, 1000), 1000),
    ],
)
def test_one_hour_cache_writes_are_read_from_message_delta_as_from_message_start(
    start: dict[str, Any] | None, delta: dict[str, Any], hour: int
) -> None:
    s = sample("anthropic", False, 4, Shape(prompt_tokens=12))
    payloads = []
    for payload in s.payloads:
        event = json.loads(payload)
        if event["type"] == "message_start" and start is None:
            del event["message"]["usage"]
        elif event["type"] == "message_start":
            event["message"]["usage"] = start
        elif event["type"] == "message_delta":
            event["usage"] = {"input_tokens": 12, "output_tokens": 4, **delta}
        payloads.append(json.dumps(event))
    usage = run("anthropic", payloads)[-1].usage
    assert (usage.prompt_tokens, usage.cache_write_tokens) == (3012, 3000)
    assert usage.cache_write_1h_tokens == hour
