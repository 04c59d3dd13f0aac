"""ListRequests through a real gRPC server on SQLite and PostgreSQL: attempts grouped into one
entry per request, filters, and pages that stay stable while records arrive. The expected
entries are worked out here from the attempts the test sent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from llmrouter.v1 import metrics_service_pb2 as pb

from .support import NOW, Metrics, ms, rich_error, usage_record

START = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
MODELS = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet"), ("ollama", "llama3")]
KEYS = ["team-a", "team-b", "team-c"]
CATEGORIES = ["code", "general"]
OK, FAILED, CANCELLED = pb.USAGE_STATUS_SUCCEEDED, pb.USAGE_STATUS_FAILED, pb.USAGE_STATUS_CANCELLED


@dataclass(frozen=True)
class Attempt:
    request_id: str
    attempt: int
    time: datetime
    provider: str
    model: str
    status: pb.UsageStatus
    error_type: str = ""
    api_key_id: str = "team-a"
    category: str = "general"
    duration_ms: int = 400
    prompt_tokens: int = 100
    completion_tokens: int = 50
    cache_read_tokens: int = 0
    cost_usd: float = 0.001

    def to_pb(self) -> pb.UsageRecord:
        return usage_record(
            f"{self.request_id}:{self.attempt}",
            time=self.time,
            provider=self.provider,
            model=self.model,
            status=self.status,
            error_type=self.error_type,
            api_key_id=self.api_key_id,
            category=self.category,
            source="sdk",
            duration_ms=self.duration_ms,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cost_usd=self.cost_usd,
            fallback=self.attempt > 1,
            trace_id=f"{abs(hash(self.request_id)):032x}"[-32:],
        )


def generated(count: int, seed: int = 7, prefix: str = "req") -> list[list[Attempt]]:
    """``count`` requests of 1 to 3 attempts each, a second apart: every attempt but the
    last failed, the last succeeded, failed or was cancelled."""
    rng = random.Random(seed)
    requests: list[list[Attempt]] = []
    for i in range(count):
        request_id = f"{prefix}{i:04d}"
        key, category = rng.choice(KEYS), rng.choice(CATEGORIES)
        n = rng.choice([1, 1, 2, 3])
        first = START + timedelta(seconds=i)
        attempts = []
        for a in range(1, n + 1):
            provider, model = MODELS[(a - 1 + i) % len(MODELS)]
            last = a == n
            status = rng.choice([OK, OK, FAILED, CANCELLED]) if last else FAILED
            attempts.append(
                Attempt(
                    request_id,
                    a,
                    first + timedelta(milliseconds=500 * (a - 1)),
                    provider,
                    model,
                    status,
                    error_type="" if status == OK else rng.choice(["RATE_LIMITED", "TIMEOUT"]),
                    api_key_id=key,
                    category=category,
                    duration_ms=300 + 10 * a,
                    prompt_tokens=rng.randrange(1, 1000),
                    completion_tokens=rng.randrange(0, 500),
                    cost_usd=rng.randrange(1, 1000) / 1e6,
                )
            )
        requests.append(attempts)
    return requests


async def store(metrics: Metrics, attempts: Sequence[Attempt]) -> None:
    # Shuffled: the grouping may not depend on the order records arrive in.
    shuffled = list(attempts)
    random.Random(len(shuffled)).shuffle(shuffled)
    for i in range(0, len(shuffled), 100):
        await metrics.record(*(a.to_pb() for a in shuffled[i : i + 100]))


def final_status(attempts: Sequence[Attempt]) -> pb.UsageStatus:
    return OK if any(a.status == OK for a in attempts) else attempts[-1].status


async def list_all(metrics: Metrics, page_size: int, **fields: Any) -> list[pb.RequestLogEntry]:
    """Every page, following next_page_token."""
    found: list[pb.RequestLogEntry] = []
    token = ""
    for _ in range(1000):
        page = await metrics.stub.ListRequests(
            pb.ListRequestsRequest(page_size=page_size, page_token=token, **fields)
        )
        assert len(page.requests) <= page_size
        found.extend(page.requests)
        token = page.next_page_token
        if not token:
            return found
        assert len(page.requests) == page_size, "only the last page is short"
    raise AssertionError("pages never ended")


async def test_a_failover_request_is_one_entry_with_its_model_chain(metrics: Metrics) -> None:
    first = NOW - timedelta(minutes=3)
    attempts = [
        Attempt("r1", 1, first, "openai", "gpt-4o", FAILED, "RATE_LIMITED", duration_ms=200,
                prompt_tokens=120, completion_tokens=0, cost_usd=0.0005),
        Attempt("r1", 2, first + timedelta(milliseconds=900), "anthropic", "claude-sonnet", OK,
                duration_ms=600, prompt_tokens=130, completion_tokens=40, cache_read_tokens=64,
                cost_usd=0.002),
    ]  # fmt: skip
    await store(metrics, attempts)

    response = await metrics.stub.ListRequests(pb.ListRequestsRequest())
    assert response.next_page_token == ""
    [entry] = response.requests
    assert entry.request_id == "r1"
    assert entry.time.ToDatetime(tzinfo=UTC) == first
    assert list(entry.models) == ["gpt-4o", "claude-sonnet"]
    assert (entry.final_model, entry.final_provider) == ("claude-sonnet", "anthropic")
    assert entry.attempts == 2
    assert entry.status == OK
    assert entry.error_type == ""
    assert (entry.prompt_tokens, entry.completion_tokens, entry.total_tokens) == (250, 40, 290)
    assert entry.cache_read_tokens == 64
    assert entry.cost_usd == pytest.approx(0.0025)
    # End to end: attempt 1 started 200 ms before its record's time, attempt 2 ended 900 ms
    # after it.
    assert ms(entry.latency) == pytest.approx(1100, abs=0.01)
    assert (entry.api_key_id, entry.category, entry.source) == ("team-a", "general", "sdk")
    assert entry.trace_id == attempts[0].to_pb().trace_id


async def test_a_request_that_failed_everywhere_shows_its_last_error(metrics: Metrics) -> None:
    first = NOW - timedelta(minutes=3)
    await store(
        metrics,
        [
            Attempt("r2", 1, first, "openai", "gpt-4o", FAILED, "RATE_LIMITED"),
            Attempt("r2", 2, first + timedelta(seconds=1), "openai", "gpt-4o", FAILED, "TIMEOUT"),
            Attempt("r2", 3, first + timedelta(seconds=2), "ollama", "llama3", FAILED, "SERVER"),
        ],
    )  # fmt: skip
    [entry] = (await metrics.stub.ListRequests(pb.ListRequestsRequest())).requests
    assert list(entry.models) == ["gpt-4o", "gpt-4o", "llama3"]  # a retry shows twice
    assert (entry.status, entry.error_type, entry.final_model) == (FAILED, "SERVER", "llama3")


async def test_pages_hold_every_request_once_newest_first(metrics: Metrics) -> None:
    requests = generated(23)
    await store(metrics, [a for r in requests for a in r])
    listed = await list_all(metrics, page_size=5)
    expected = sorted(requests, key=lambda r: (r[0].time, r[0].request_id), reverse=True)
    assert [e.request_id for e in listed] == [r[0].request_id for r in expected]
    for entry, attempts in zip(listed, expected, strict=True):
        assert list(entry.models) == [a.model for a in attempts]
        assert entry.attempts == len(attempts)
        assert entry.status == final_status(attempts)
        assert entry.prompt_tokens == sum(a.prompt_tokens for a in attempts)
        assert entry.completion_tokens == sum(a.completion_tokens for a in attempts)
        assert entry.cost_usd == pytest.approx(sum(a.cost_usd for a in attempts))
        start = min(a.time - timedelta(milliseconds=a.duration_ms) for a in attempts)
        end = max(a.time for a in attempts)
        assert ms(entry.latency) == pytest.approx((end - start) / timedelta(milliseconds=1))


async def test_pages_stay_stable_while_records_arrive(metrics: Metrics) -> None:
    requests = generated(12)
    await store(metrics, [a for r in requests for a in r])
    seen: list[str] = []
    page = await metrics.stub.ListRequests(pb.ListRequestsRequest(page_size=5))
    seen += [e.request_id for e in page.requests]
    # Between pages: newer requests, an older one's late attempt, a request inside the pages
    # already read... none of it moves the next page.
    newer = generated(4, seed=1, prefix="new")
    await store(
        metrics,
        [
            *(
                Attempt(a.request_id, a.attempt, a.time + timedelta(days=1), a.provider, a.model,
                        a.status)
                for r in newer
                for a in r
            ),
            Attempt(requests[0][0].request_id, 9, NOW, "ollama", "llama3", OK),
        ],
    )  # fmt: skip
    while page.next_page_token:
        page = await metrics.stub.ListRequests(
            pb.ListRequestsRequest(page_size=5, page_token=page.next_page_token)
        )
        seen += [e.request_id for e in page.requests]
    expected = sorted(requests, key=lambda r: (r[0].time, r[0].request_id), reverse=True)
    assert seen == [r[0].request_id for r in expected]
    # The late attempt joined its request; the newer requests head a fresh first page.
    fresh = await list_all(metrics, page_size=500)
    assert [e.request_id for e in fresh[:4]] == [f"new{i:04d}" for i in (3, 2, 1, 0)]
    late = next(e for e in fresh if e.request_id == requests[0][0].request_id)
    assert late.attempts == len(requests[0]) + 1
    assert late.models[-1] == "llama3"


@pytest.mark.parametrize(
    "fields",
    [
        {"api_key_ids": ["team-b"]},
        {"api_key_ids": ["team-a", "team-c"], "categories": ["code"]},
        {"models": ["claude-sonnet"]},
        {"statuses": [FAILED]},
        {"statuses": [OK, CANCELLED], "models": ["llama3"]},
    ],
    ids=["key", "keys+category", "model", "failed", "ok-or-cancelled+model"],
)
async def test_filters_match_whole_requests(metrics: Metrics, fields: dict[str, Any]) -> None:
    requests = generated(40, seed=3)
    await store(metrics, [a for r in requests for a in r])
    start, end = START + timedelta(seconds=5), START + timedelta(seconds=35)

    def matches(attempts: list[Attempt]) -> bool:
        head = attempts[0]
        return (
            start <= head.time < end
            and head.api_key_id in fields.get("api_key_ids", [head.api_key_id])
            and head.category in fields.get("categories", [head.category])
            and any(a.model in fields.get("models", [a.model]) for a in attempts)
            and final_status(attempts) in fields.get("statuses", [final_status(attempts)])
        )

    window = pb.ListRequestsRequest(filter=pb.RequestFilter(**fields))
    window.start_time.FromDatetime(start)
    window.end_time.FromDatetime(end)
    listed = await list_all(
        metrics, 3, filter=window.filter, start_time=window.start_time, end_time=window.end_time
    )
    expected = [r[0].request_id for r in reversed(requests) if matches(r)]
    assert expected, "the filter matches something"
    assert len(expected) < 30, "the filter leaves something out"
    assert [e.request_id for e in listed] == expected


async def test_page_size_defaults_to_50_and_stops_at_500(metrics: Metrics) -> None:
    requests = generated(520, seed=5)
    await store(metrics, [a for r in requests for a in r])
    assert len((await metrics.stub.ListRequests(pb.ListRequestsRequest())).requests) == 50
    big = await metrics.stub.ListRequests(pb.ListRequestsRequest(page_size=10_000))
    assert len(big.requests) == 500
    assert big.next_page_token


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": -1}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
        (
            {"filter": pb.RequestFilter(statuses=[pb.USAGE_STATUS_UNSPECIFIED])},
            "filter.statuses[0]",
        ),
    ],
)
async def test_bad_requests_name_the_field(
    metrics: Metrics, request_fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.stub.ListRequests(pb.ListRequestsRequest(**request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad = rich_error(caught.value)
    assert info.reason == "INVALID_REQUESTS_QUERY"
    assert bad is not None
    assert [v.field for v in bad.field_violations] == [field]


async def test_a_page_token_is_bound_to_its_filter(metrics: Metrics) -> None:
    await store(metrics, [a for r in generated(6) for a in r])
    page = await metrics.stub.ListRequests(pb.ListRequestsRequest(page_size=2))
    assert page.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.stub.ListRequests(
            pb.ListRequestsRequest(
                page_size=2,
                page_token=page.next_page_token,
                filter=pb.RequestFilter(api_key_ids=["team-a"]),
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "another filter" in (caught.value.details() or "")
