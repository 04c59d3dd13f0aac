"""Hedging in the failover engine, streams, step by step (see .scripted_engine): the race is
for the first token, the winner's stream is relayed (and continued after its own text when it
breaks), the loser's closed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from router_svc.chat import StreamDelta
from router_svc.errors import BadUpstreamRequest, UpstreamUnavailable
from router_svc.routing.failover import StreamStarted, StreamSummary

from .scripted_engine import REQUEST, Setup, deadline, outcomes, setup


async def collect(s: Setup) -> list[Any]:
    return [event async for event in s.engine.stream(REQUEST, deadline())]


async def test_a_stream_whose_first_token_is_late_is_served_by_the_hedge() -> None:
    s = setup()
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    b.answer()
    events = await streamed
    start, delta, summary = events
    assert isinstance(start, StreamStarted)
    assert isinstance(summary, StreamSummary)
    assert (start.entry.name, start.fallback, start.attempt_count) == ("b", True, 2)
    assert delta == StreamDelta(content="from b")
    assert a.cancelled  # the loser's upstream stream was closed
    assert a.closed
    assert [(x.model, x.status, x.error_type) for x in summary.attempts] == [
        ("a", "cancelled", "HEDGE_LOST"),
        ("b", "succeeded", ""),
    ]
    assert outcomes(s.records) == [(1, "a", "cancelled", "HEDGE_LOST"), (2, "b", "succeeded", "")]


async def test_a_stream_keeps_its_first_attempt_when_that_starts_first() -> None:
    s = setup()
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    a.answer()
    start, delta, _ = await streamed
    assert start.entry.name == "a"
    assert delta == StreamDelta(content="from a")
    assert b.cancelled
    assert b.closed
    assert outcomes(s.records) == [(1, "a", "succeeded", ""), (2, "b", "cancelled", "HEDGE_LOST")]


async def test_a_stream_whose_hedge_fails_waits_for_the_first() -> None:
    s = setup()
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    b.fail(UpstreamUnavailable("b: 503"))
    await asyncio.sleep(0.01)
    a.answer()
    start, *_ = await streamed
    assert start.entry.name == "a"
    assert outcomes(s.records) == [
        (1, "a", "succeeded", ""),
        (2, "b", "failed", "UPSTREAM_UNAVAILABLE"),
    ]


async def test_a_hedge_that_breaks_mid_stream_is_continued_after_its_own_text() -> None:
    s = setup(breaking="b", continuing="c")
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    _, b = await s.upstream.wait_calls(2)
    b.answer()
    *_, c = await s.upstream.wait_calls(3)
    assert (c.model, c.prefill) == ("c", "from b")  # the answer relayed so far is b's
    c.answer()
    events = await streamed
    assert [type(e).__name__ for e in events] == [
        "StreamStarted",
        "StreamDelta",
        "StreamDelta",
        "StreamSummary",
    ]
    assert events[0].entry.name == "b"
    assert [e.content for e in events[1:3]] == ["from b", "from c"]
    assert [(x.model, x.status, x.error_type) for x in events[-1].attempts] == [
        ("a", "cancelled", "HEDGE_LOST"),
        ("b", "failed", "UPSTREAM_UNAVAILABLE"),
        ("c", "succeeded", ""),
    ]


def fallbacks(s: Setup) -> list[tuple[str, str, bool, str, str]]:
    """(model, status, fallback, fallback_from, fallback_reason) of each usage record."""
    records = sorted(s.records, key=lambda r: r.attempt)
    return [(r.model, r.status, r.fallback, r.fallback_from, r.fallback_reason) for r in records]


async def test_a_continuation_after_the_first_attempt_won_falls_back_from_its_model() -> None:
    s = setup(breaking="a", continuing="bc")
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, _ = await s.upstream.wait_calls(2)
    a.answer()  # a wins the race, then breaks after its first delta
    *_, b = await s.upstream.wait_calls(3)
    assert (b.model, b.prefill) == ("b", "from a")
    b.answer()
    events = await streamed
    assert [e.content for e in events[1:3]] == ["from a", "from b"]
    # The continuation continues a's text: it falls back from a, not from the cancelled hedge.
    assert fallbacks(s) == [
        ("a", "failed", False, "", ""),
        ("b", "cancelled", True, "a", "HEDGE"),
        ("b", "succeeded", True, "a", "UPSTREAM_UNAVAILABLE"),
    ]


async def test_a_continuation_after_a_continuer_that_failed_falls_back_from_the_author() -> None:
    s = setup(breaking="a", continuing="bc", hedge_after_s=0)
    streamed = asyncio.create_task(collect(s))
    (a,) = await s.upstream.wait_calls(1)
    a.answer()
    _, b = await s.upstream.wait_calls(2)
    b.fail(BadUpstreamRequest("b: 400 cannot continue"))  # refuses the prefill, adds nothing
    *_, c = await s.upstream.wait_calls(3)
    assert (c.model, c.prefill) == ("c", "from a")
    c.answer()
    events = await streamed
    assert [e.content for e in events[1:3]] == ["from a", "from c"]
    assert fallbacks(s) == [
        ("a", "failed", False, "", ""),
        ("b", "failed", True, "a", "UPSTREAM_UNAVAILABLE"),
        ("c", "succeeded", True, "a", "UPSTREAM_UNAVAILABLE"),
    ]


async def test_the_caller_leaving_a_racing_stream_closes_both() -> None:
    s = setup()
    streamed = asyncio.create_task(collect(s))
    await s.upstream.wait_calls(1)
    s.timer.fired.set()
    a, b = await s.upstream.wait_calls(2)
    streamed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await streamed
    assert (a.cancelled, a.closed, b.cancelled, b.closed) == (True, True, True, True)
    assert outcomes(s.records) == [
        (1, "a", "cancelled", "CANCELLED"),
        (2, "b", "cancelled", "CANCELLED"),
    ]
