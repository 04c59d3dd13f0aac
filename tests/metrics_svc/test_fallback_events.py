"""ListFallbackEvents through a real gRPC server; the expected events are worked out here from
the attempts the test sent.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from llmrouter.v1 import metrics_service_pb2 as pb

from .support import NOW, Metrics, rich_error, usage_record

START = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
CANDIDATES = [
    ("openai", "gpt-4o"),
    ("anthropic", "claude-sonnet"),
    ("openai", "gpt-4o-mini"),
    ("ollama", "llama3"),
]
ERRORS = ["RATE_LIMITED", "TIMEOUT", "SERVER_ERROR", "CONTEXT_TOO_LONG"]


@dataclass(frozen=True)
class Attempt:
    """One attempt the test sent."""

    request_id: str
    attempt: int
    time: datetime
    provider: str
    model: str
    status: pb.UsageStatus
    error_type: str
    fallback_from: str
    category: str
    source: str

    @property
    def fallback(self) -> bool:
        return self.attempt > 1

    def to_pb(self) -> pb.UsageRecord:
        return usage_record(
            f"{self.request_id}:{self.attempt}",
            time=self.time,
            provider=self.provider,
            model=self.model,
            status=self.status,
            error_type=self.error_type,
            fallback=self.fallback,
            fallback_from=self.fallback_from,
            category=self.category,
            source=self.source,
            trace_id=f"{int(self.request_id[3:]):016x}{self.attempt:016x}",
        )


def requests(count: int, seed: int = 7) -> list[Attempt]:
    """``count`` requests of 1 to 4 attempts, every attempt but the last failing."""
    rng = random.Random(seed)
    sent = []
    for r in range(count):
        tried = rng.sample(CANDIDATES, rng.choice([1, 2, 2, 3, 4]))
        begin = START + timedelta(minutes=11 * r)
        for i, (provider, model) in enumerate(tried, start=1):
            last = i == len(tried)
            failed = not last or rng.random() < 0.25
            sent.append(
                Attempt(
                    request_id=f"req{r}",
                    attempt=i,
                    time=begin + timedelta(seconds=3 * i),
                    provider=provider,
                    model=model,
                    status=pb.USAGE_STATUS_FAILED if failed else pb.USAGE_STATUS_SUCCEEDED,
                    error_type=rng.choice(ERRORS) if failed else "",
                    fallback_from=tried[i - 2][1] if i > 1 else "",
                    category=rng.choice(["chat", "code"]),
                    source=rng.choice(["web", "cli"]),
                )
            )
    return sent


def expected(
    sent: Sequence[Attempt],
    *,
    start: datetime | None = None,
    end: datetime = NOW,
    limit: int = 50,
    matches: Callable[[Attempt], bool] = lambda a: True,
) -> list[pb.FallbackEvent]:
    """The events the service should list, worked out from what was sent."""
    errors = {(a.request_id, a.attempt): a.error_type for a in sent}
    events = [
        a
        for a in sent
        if a.fallback and (start is None or start <= a.time) and a.time < end and matches(a)
    ]
    events.sort(key=lambda a: (a.time, a.attempt), reverse=True)
    return [
        pb.FallbackEvent(
            request_id=a.request_id,
            attempt=a.attempt,
            time=a.time,
            model=a.model,
            provider=a.provider,
            fallback_from=a.fallback_from,
            reason=errors.get((a.request_id, a.attempt - 1), ""),
            status=a.status,
            category=a.category,
            source=a.source,
            trace_id=a.to_pb().trace_id,
        )
        for a in events[:limit]
    ]


async def send(metrics: Metrics, sent: Sequence[Attempt]) -> None:
    # Shuffled, in several batches: the order of arrival must not matter.
    records = [a.to_pb() for a in sent]
    random.Random(3).shuffle(records)
    for i in range(0, len(records), 100):
        await metrics.record(*records[i : i + 100])


async def test_lists_fallbacks_newest_first_with_the_error_that_caused_each(
    metrics: Metrics,
) -> None:
    sent = requests(40)
    await send(metrics, sent)

    events = await metrics.fallbacks(page_size=1000)

    assert events == expected(sent, limit=1000)
    assert len(events) > 20, "the dataset must hold many fallbacks"
    assert {e.reason for e in events} == set(ERRORS)
    assert any(e.status == pb.USAGE_STATUS_FAILED for e in events)


async def test_page_size_defaults_to_50_and_limits_the_newest(metrics: Metrics) -> None:
    sent = requests(80)
    await send(metrics, sent)
    assert len(expected(sent, limit=1000)) > 50

    assert await metrics.fallbacks() == expected(sent, limit=50)
    assert await metrics.fallbacks(page_size=7) == expected(sent, limit=7)


async def test_the_window_and_filter_select_the_fallback_attempts(metrics: Metrics) -> None:
    sent = requests(60)
    await send(metrics, sent)
    start, end = START + timedelta(hours=2), START + timedelta(hours=7)

    events = await metrics.fallbacks(
        start_time=start,
        end_time=end,
        page_size=1000,
        filter=pb.CostFilter(providers=["openai"], categories=["code"]),
    )

    want = expected(
        sent,
        start=start,
        end=end,
        limit=1000,
        matches=lambda a: a.provider == "openai" and a.category == "code",
    )
    assert events == want
    assert want, "the window and filter must leave some events"


async def test_the_reason_is_found_outside_the_window_and_empty_when_never_recorded(
    metrics: Metrics,
) -> None:
    before = NOW - timedelta(hours=2)
    await metrics.record(
        usage_record("r1:1", time=before, status=pb.USAGE_STATUS_FAILED, error_type="TIMEOUT"),
        usage_record("r1:2", time=before + timedelta(hours=1), fallback=True),
        # r2's first attempt never reached the ledger.
        usage_record("r2:2", time=before + timedelta(hours=1, minutes=1), fallback=True),
    )

    events = await metrics.fallbacks(start_time=before + timedelta(minutes=30))

    assert [(e.request_id, e.attempt, e.reason) for e in events] == [
        ("r2", 2, ""),
        ("r1", 2, "TIMEOUT"),
    ]


async def test_an_open_window_ends_now(metrics: Metrics) -> None:
    await metrics.record(
        usage_record("past:2", time=NOW - timedelta(seconds=1), fallback=True),
        usage_record("future:2", time=NOW + timedelta(minutes=1), fallback=True),
    )

    assert [e.request_id for e in await metrics.fallbacks()] == ["past"]


async def test_an_empty_ledger_lists_nothing(metrics: Metrics) -> None:
    assert await metrics.fallbacks() == []


async def test_the_largest_page_is_accepted(metrics: Metrics) -> None:
    assert await metrics.fallbacks(page_size=1000) == []


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": 1001}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"start_time": NOW, "end_time": NOW - timedelta(seconds=1)}, "end_time"),
    ],
    ids=["page-too-large", "negative-page", "end-before-start"],
)
async def test_an_invalid_request_names_the_field(
    metrics: Metrics, request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.fallbacks(**request_fields)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith(f"{field}: ")
    info, bad_request = rich_error(caught.value)
    assert (info.reason, info.metadata["field"]) == ("INVALID_FALLBACK_QUERY", field)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == [field]


async def test_a_retry_of_the_same_model_is_not_a_fallback(metrics: Metrics) -> None:
    """Routers before issue 15 flagged every attempt after a fallback, retries of the fallback
    model included (``fallback_from`` = the attempt's own model): one change of model is one
    fallback, in the list and in the cost report's count and rate."""
    at = NOW - timedelta(minutes=10)
    first, second = ("openai", "gpt-4o"), ("anthropic", "claude-sonnet")
    await metrics.record(
        usage_record(
            "old:1",
            time=at,
            provider=first[0],
            model=first[1],
            status=pb.USAGE_STATUS_FAILED,
            error_type="SERVER_ERROR",
        ),
        usage_record(
            "old:2",
            time=at + timedelta(seconds=1),
            provider=second[0],
            model=second[1],
            status=pb.USAGE_STATUS_FAILED,
            error_type="RATE_LIMITED",
            fallback=True,
            fallback_from=first[1],
        ),
        usage_record(
            "old:3",
            time=at + timedelta(seconds=2),
            provider=second[0],
            model=second[1],
            fallback=True,
            fallback_from=second[1],
        ),
    )

    events = await metrics.fallbacks()
    assert [(e.attempt, e.model, e.fallback_from, e.reason) for e in events] == [
        (2, second[1], first[1], "SERVER_ERROR")
    ]
    totals = (await metrics.query()).totals
    assert totals.fallback_count == 1
    assert totals.fallback_rate == pytest.approx(1 / 3)
