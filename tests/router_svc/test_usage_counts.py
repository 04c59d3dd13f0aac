"""Every token is billed, by one rule for the counts an upstream reports (issue 16, the trial's
findings 1-3; router_svc.providers.counts).

A count is an integer from 0 to 10^12 (an integral JSON number, 300.0, is that integer). An
unreadable one — beyond the bound, negative, a string — malforms the usage: a whole answer fails
over (MALFORMED_RESPONSE, never INTERNAL), a stream before content too; after content the
answer is served with the count estimated. Whatever the router estimated is marked
``usage_estimated``, and what the client sees is what the ledger holds. The fakes send what
servers outside the published references send (``Behavior.usage_patch``, ``omit_usage``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmrouter.v1 import metrics_service_pb2, router_service_pb2
from router_svc.chat import ChatRequest, Message
from router_svc.providers.counts import UnreadableCount, count
from router_svc.tokens import estimate_prompt_tokens
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for
from .test_failover import ONE_TRY, chat

# The router's estimate of the prompt "hello" that chat() sends.
ESTIMATE = estimate_prompt_tokens(ChatRequest(model="auto", messages=(Message("user", "hello"),)))
FAILED = metrics_service_pb2.USAGE_STATUS_FAILED


def test_a_count_is_an_integer_from_0_to_the_bound() -> None:
    assert [count(v) for v in (0, 300, 300.0, 10**12, None)] == [0, 300, 300, 10**12, None]
    for bad in ("300", True, 1.5, -1, -0.0 - 1, 10**12 + 1, 2**63, 1e30, float("nan"), [1]):
        with pytest.raises(UnreadableCount):
            count(bad)


def counts(row: Any) -> tuple[int, int, int, int, bool]:
    """(prompt, completion, cache read, reasoning, estimated) of a ledger row or a usage."""
    estimated = getattr(row, "usage_estimated", None)
    return (
        row.prompt_tokens,
        row.completion_tokens,
        row.cache_read_tokens,
        row.reasoning_tokens,
        bool(estimated),
    )


async def rows_of(metrics: FakeMetrics, n: int) -> list[Any]:
    await wait_for(lambda: len(metrics.records) == n)
    return sorted(metrics.records.values(), key=lambda r: (r.request_id, r.attempt))


async def streamed(stub: Any) -> Any:
    """The summary chunk of one streamed request (the stream must succeed)."""
    chunks = [
        c async for c in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat()))
    ]
    assert chunks[-1].WhichOneof("chunk") == "summary"
    return chunks[-1].summary


# --- 1. Counts out of range (or negative) are malformed, never INTERNAL ---------------------

UNARY_BAD = [
    # The trial's custom-oaunarybigint: prompt_tokens 10^30 (read as 1e30 by the JSON parser).
    pytest.param("oai", {"prompt_tokens": 10**30, "total_tokens": 10**30}, (0, 4), id="oai-1e30"),
    pytest.param("oai", {"completion_tokens": -3}, (2, 0), id="oai-negative"),
    pytest.param("anth", {"input_tokens": -5}, (0, 4), id="anth-negative"),
    pytest.param("olla", {"eval_count": 2**63}, (2, 0), id="olla-beyond-int64"),
]


@pytest.mark.parametrize(("kind", "patch", "billed"), UNARY_BAD)
async def test_a_whole_answer_with_a_count_out_of_range_fails_over(
    make_router: Any,
    upstream: FakeUpstream,
    fake_metrics: Any,
    kind: str,
    patch: dict[str, Any],
    billed: tuple[int, int],
) -> None:
    """MALFORMED_RESPONSE and the next model answers; the failed attempt is billed the counts
    that were readable, marked estimated. Before: INTERNAL (``Value out of range`` building the
    response) and an outbox stuck on the record, or a negative count silently made 0."""
    upstream.set("x", Behavior(prompt_tokens=2, usage_patch=patch))
    _, stub = await make_router((model("x", kind), model("b")), ("x", "b"), retry=ONE_TRY)

    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))

    assert reply.model == "b"
    assert [a.error_type for a in reply.attempts] == ["MALFORMED_RESPONSE", ""]
    failed, served = await rows_of(fake_metrics[0], 2)
    assert (failed.status, failed.error_type) == (FAILED, "MALFORMED_RESPONSE")
    assert (failed.prompt_tokens, failed.completion_tokens, failed.usage_estimated) == (
        *billed,
        True,
    )
    assert counts(served)[-1] is False


STREAM_BAD = [
    # The trial's custom-oastreambig: the usage chunk's prompt_tokens is 2^63.
    pytest.param("oai", {"prompt_tokens": 2**63}, id="oai-beyond-int64"),
    # The trial's custom-annegative: message_delta's output_tokens is -5.
    pytest.param("anth", {"output_tokens": -5}, id="anth-negative-output"),
    pytest.param("olla", {"prompt_eval_count": 1.5}, id="olla-fraction"),
]


@pytest.mark.parametrize(("kind", "patch"), STREAM_BAD)
async def test_a_count_out_of_range_after_content_is_estimated(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any, kind: str, patch: dict[str, Any]
) -> None:
    """The answer is served; the unreadable count is the router's estimate (the prompt:
    its estimate of the request; the output: one token per four characters relayed, at least
    what was reported before), the rest as reported, marked estimated, and the client's usage
    is the ledger's. The outbox is not stuck: the next request is billed too."""
    upstream.set("x", Behavior(prompt_tokens=2, usage_patch=patch), Behavior(prompt_tokens=2))
    _, stub = await make_router((model("x", kind),), ("x",), retry=ONE_TRY)

    summary = await streamed(stub)
    await streamed(stub)

    first, second = await rows_of(fake_metrics[0], 2)
    assert counts(first) == (*counts(summary.usage)[:4], True)
    prompt = ESTIMATE if "prompt" in next(iter(patch)) else 2
    # "Hello from x." relayed: 13 characters, 4 tokens, as the upstream's 4 pieces.
    assert (first.prompt_tokens, first.completion_tokens) == (prompt, 4)
    assert counts(second) == (2, 4, 0, 0, False)


async def test_a_count_out_of_range_before_content_fails_over_billed_what_was_readable(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any
) -> None:
    """message_start's input_tokens is 2^63 (its cache read of 2,000 readable): the stream
    fails over before any content, and its attempt is billed the 2,000 cache-read tokens and
    message_start's output token, marked estimated."""
    bad = Behavior(
        prompt_tokens=12, cache_read_tokens=2000, start_usage_patch={"input_tokens": 2**63}
    )
    upstream.set("x", bad)
    _, stub = await make_router((model("x", "anth"), model("b")), ("x", "b"), retry=ONE_TRY)

    summary = await streamed(stub)

    assert summary.model == "b"
    failed, _ = await rows_of(fake_metrics[0], 2)
    assert failed.error_type == "MALFORMED_RESPONSE"
    assert counts(failed) == (2000, 1, 2000, 0, True)


# --- 2. What the router estimated is marked, and readable counts are kept ------------------

ESTIMATED = [
    # The trial's custom-oanousage and custom-oaunarynousage.
    pytest.param("oai", Behavior(omit_usage=True), (ESTIMATE, 4), id="oai-no-usage"),
    # custom-olnoprompt, custom-olunarynoprompt: Ollama leaves prompt_eval_count out when the
    # prompt came from its cache.
    pytest.param(
        "olla", Behavior(usage_patch={"prompt_eval_count": ...}), (ESTIMATE, 4), id="olla-no-prompt"
    ),
    pytest.param(
        "olla",
        Behavior(prompt_tokens=2, usage_patch={"eval_count": ...}),
        (2, 4),
        id="olla-no-eval-count",
    ),
]


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("kind", "behavior", "billed"), ESTIMATED)
async def test_counts_the_router_estimated_are_marked_estimated(
    make_router: Any,
    upstream: FakeUpstream,
    fake_metrics: Any,
    kind: str,
    behavior: Behavior,
    billed: tuple[int, int],
    streaming: bool,
) -> None:
    """Billed the router's estimates and marked so (README: usage_estimated is true when any
    count is the router's estimate); before, marked as reported, and an Ollama answer without
    eval_count billed 0 completion tokens."""
    upstream.set("x", behavior)
    _, stub = await make_router((model("x", kind),), ("x",), retry=ONE_TRY)

    if streaming:
        usage = (await streamed(stub)).usage
    else:
        usage = (await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))).usage

    (row,) = await rows_of(fake_metrics[0], 1)
    assert counts(row) == (*billed, 0, 0, True)
    assert counts(usage)[:4] == counts(row)[:4]


PARTLY = [
    # The trial's custom-oabadcached: one detail unreadable, the prompt (300) kept.
    pytest.param(
        {"prompt_tokens": 300, "prompt_tokens_details.cached_tokens": "lots"},
        (300, 4, 0, 0, True),
        id="cached-a-string",
    ),
    # custom-oacachedfloat: 300.0 is the number 300, readable.
    pytest.param({"prompt_tokens": 300.0}, (300, 4, 0, 0, False), id="prompt-300.0"),
    pytest.param(
        {"prompt_tokens": 300, "completion_tokens_details.reasoning_tokens": -1},
        (300, 4, 0, 0, True),
        id="reasoning-negative",
    ),
]


@pytest.mark.parametrize(("patch", "billed"), PARTLY)
async def test_readable_counts_are_kept_beside_an_unreadable_one(
    make_router: Any, upstream: FakeUpstream, fake_metrics: Any, patch: dict[str, Any], billed: Any
) -> None:
    """A usage chunk with one bad detail is read, not skipped: the upstream's prompt and
    completion are billed, the bad detail counts 0, marked estimated. Before, the whole chunk
    was skipped and the router's estimates were billed as if reported."""
    upstream.set("x", Behavior(usage_patch=patch))
    _, stub = await make_router((model("x"),), ("x",), retry=ONE_TRY)

    summary = await streamed(stub)

    (row,) = await rows_of(fake_metrics[0], 1)
    assert counts(row) == billed
    assert counts(summary.usage)[:4] == billed[:4]


# --- 3. A malformed answer's reported usage stays on its failed attempt ---------------------

MALFORMED = [
    # The trial's "malformed" scenarios: content that is not text, usage as the API sends it.
    pytest.param(
        "oai",
        {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": 42}}],
            "usage": {
                "prompt_tokens": 150,
                "completion_tokens": 40,
                "total_tokens": 190,
                "prompt_tokens_details": {"cached_tokens": 100},
                "completion_tokens_details": {"reasoning_tokens": 20},
            },
        },
        (150, 40, 100, 20, False),
        id="oai-content-42",
    ),
    pytest.param(
        "anth",
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": "oops",
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "cache_read_input_tokens": 2000, "output_tokens": 40},
        },
        (2012, 40, 2000, 0, False),
        id="anth-content-a-string",
    ),
    pytest.param(
        "olla",
        {"model": "m", "message": "hello", "done": True, "prompt_eval_count": 26, "eval_count": 7},
        (26, 7, 0, 0, False),
        id="olla-message-a-string",
    ),
    # Nothing reported: nothing billed, nothing estimated (as a stream failing before usage).
    pytest.param("oai", {"choices": [{"message": "hello"}]}, (0, 0, 0, 0, False), id="no-usage"),
]


@pytest.mark.parametrize(("kind", "body", "billed"), MALFORMED)
async def test_a_malformed_answer_keeps_the_usage_it_reported(
    make_router: Any,
    upstream: FakeUpstream,
    fake_metrics: Any,
    kind: str,
    body: dict[str, Any],
    billed: tuple[int, int, int, int, bool],
) -> None:
    """The provider billed those tokens: the failed attempt's row carries them, priced. Before:
    0 tokens, $0."""
    upstream.set("x", Behavior(raw_body=json.dumps(body).encode()))
    _, stub = await make_router((model("x", kind), model("b")), ("x", "b"), retry=ONE_TRY)

    reply = await stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))

    assert reply.model == "b"
    failed, _ = await rows_of(fake_metrics[0], 2)
    assert failed.error_type == "MALFORMED_RESPONSE"
    assert counts(failed) == billed
    assert (failed.cost_usd > 0) == (billed[0] > 0)
