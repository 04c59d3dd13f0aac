"""GetProviderHealth through a real gRPC server; every figure is worked out here from the
records the test sent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from llmrouter.v1 import metrics_service_pb2 as pb

from .support import NOW, Metrics, ms, rich_error, usage_record

PROVIDERS = ["anthropic", "ollama", "openai"]
STATUSES = (
    [pb.USAGE_STATUS_SUCCEEDED] * 6 + [pb.USAGE_STATUS_FAILED] * 3 + [pb.USAGE_STATUS_CANCELLED]
)
ERRORS = ["RATE_LIMITED", "TIMEOUT", "SERVER_ERROR"]


@dataclass(frozen=True)
class Sent:
    """One record the test sent."""

    id: str
    provider: str
    time: datetime
    status: pb.UsageStatus
    duration_ms: int
    error_type: str

    def to_pb(self) -> pb.UsageRecord:
        return usage_record(
            self.id,
            provider=self.provider,
            time=self.time,
            status=self.status,
            duration_ms=self.duration_ms,
            error_type=self.error_type,
        )


def dataset(start: datetime, end: datetime, seed: int = 11) -> list[Sent]:
    """Records every few minutes from a day before ``start`` until a day after ``end``."""
    rng = random.Random(seed)
    sent = []
    when = start - timedelta(days=1)
    i = 0
    while when < end + timedelta(days=1):
        status = rng.choice(STATUSES)
        failed = status == pb.USAGE_STATUS_FAILED
        sent.append(
            Sent(
                id=f"h{i}:1",
                provider=rng.choice(PROVIDERS),
                time=when,
                status=status,
                duration_ms=rng.randint(50, 4000),
                error_type=rng.choice(ERRORS) if failed else "",
            )
        )
        when += timedelta(minutes=rng.randint(1, 40), microseconds=rng.randint(0, 999_999))
        i += 1
    return sent


def assert_health(
    got: dict[str, pb.ProviderHealth], sent: Sequence[Sent], start: datetime, end: datetime
) -> None:
    """``got`` holds, per provider with records in the window, exactly what ``sent`` implies."""
    in_window = [s for s in sent if start <= s.time < end]
    assert set(got) == {s.provider for s in in_window}
    for provider, health in got.items():
        mine = [s for s in in_window if s.provider == provider]
        successes = sum(1 for s in mine if s.status == pb.USAGE_STATUS_SUCCEEDED)
        failures = sum(1 for s in mine if s.status == pb.USAGE_STATUS_FAILED)
        assert (health.requests, health.successes, health.failures) == (
            len(mine),
            successes,
            failures,
        )
        assert health.success_rate == pytest.approx(successes / len(mine))
        assert ms(health.average_latency) == pytest.approx(
            sum(s.duration_ms for s in mine) / len(mine)
        )
        ever = [s for s in sent if s.provider == provider]
        ok = [s for s in ever if s.status == pb.USAGE_STATUS_SUCCEEDED]
        bad = [s for s in ever if s.status == pb.USAGE_STATUS_FAILED]
        last_ok = max(ok, key=lambda s: s.time, default=None)
        last_bad = max(bad, key=lambda s: s.time, default=None)
        if last_ok is None:
            assert not health.HasField("last_success_time")
        else:
            assert health.last_success_time.ToDatetime(tzinfo=UTC) == last_ok.time
        if last_bad is None:
            assert not health.HasField("last_failure_time")
            assert health.last_error_type == ""
        else:
            assert health.last_failure_time.ToDatetime(tzinfo=UTC) == last_bad.time
            assert health.last_error_type == last_bad.error_type


async def test_figures_cover_the_window_and_last_outcomes_all_time(metrics: Metrics) -> None:
    start, end = NOW - timedelta(hours=30), NOW - timedelta(hours=6)
    sent = dataset(start, end)
    for i in range(0, len(sent), 200):
        await metrics.record(*(s.to_pb() for s in sent[i : i + 200]))

    got = await metrics.health(start_time=start, end_time=end)

    assert_health(got, sent, start, end)
    assert set(got) == set(PROVIDERS)
    # The latest outcomes lie after the window: they must come from outside it.
    assert all(h.last_success_time.ToDatetime(tzinfo=UTC) >= end for h in got.values())


async def test_the_default_window_is_the_last_24_hours(metrics: Metrics) -> None:
    sent = [
        Sent(
            "old:1",
            "openai",
            NOW - timedelta(hours=24, seconds=1),
            pb.USAGE_STATUS_FAILED,
            900,
            "TIMEOUT",
        ),
        Sent("edge:1", "openai", NOW - timedelta(hours=24), pb.USAGE_STATUS_SUCCEEDED, 100, ""),
        Sent("recent:1", "openai", NOW - timedelta(minutes=1), pb.USAGE_STATUS_CANCELLED, 300, ""),
        Sent("gone:1", "groq", NOW - timedelta(hours=30), pb.USAGE_STATUS_SUCCEEDED, 100, ""),
        Sent("later:1", "openai", NOW, pb.USAGE_STATUS_SUCCEEDED, 5000, ""),
    ]
    await metrics.record(*(s.to_pb() for s in sent))

    got = await metrics.health()

    assert_health(got, sent, NOW - timedelta(hours=24), NOW)
    assert list(got) == ["openai"]  # groq had no usage in the window
    openai = got["openai"]
    assert (openai.requests, openai.successes, openai.failures) == (2, 1, 0)
    assert openai.success_rate == 0.5
    assert ms(openai.average_latency) == 200.0
    assert openai.last_success_time.ToDatetime(tzinfo=UTC) == NOW
    assert openai.last_failure_time.ToDatetime(tzinfo=UTC) == NOW - timedelta(hours=24, seconds=1)
    assert openai.last_error_type == "TIMEOUT"


async def test_a_provider_that_never_failed_has_no_failure_time(metrics: Metrics) -> None:
    await metrics.record(usage_record("a:1", provider="ollama"))

    ollama = (await metrics.health())["ollama"]

    assert (ollama.requests, ollama.successes, ollama.success_rate) == (1, 1, 1.0)
    assert not ollama.HasField("last_failure_time")
    assert ollama.last_error_type == ""


async def test_an_empty_ledger_reports_no_provider(metrics: Metrics) -> None:
    assert await metrics.health() == {}


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"start_time": NOW, "end_time": NOW - timedelta(hours=1)}, "end_time"),
        ({"start_time": NOW + timedelta(hours=1)}, "end_time"),
    ],
    ids=["end-before-start", "start-after-now"],
)
async def test_an_invalid_window_names_the_field(
    metrics: Metrics, request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.health(**request_fields)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, _ = rich_error(caught.value)
    assert (info.reason, info.metadata["field"]) == ("INVALID_HEALTH_QUERY", field)


async def test_the_filter_scopes_window_figures_and_latest_outcomes(metrics: Metrics) -> None:
    # Alice's openai calls all succeed; Bob's fail, later. Each key must see only its own.
    alice_ok, bob_bad = NOW - timedelta(minutes=30), NOW - timedelta(minutes=10)
    await metrics.record(
        usage_record("a:1", provider="openai", api_key_id="alice", time=alice_ok),
        usage_record("a2:1", provider="ollama", api_key_id="alice", time=alice_ok),
        usage_record(
            "b:1",
            provider="openai",
            api_key_id="bob",
            time=bob_bad,
            status=pb.USAGE_STATUS_FAILED,
            error_type="RATE_LIMITED",
        ),
        # Outside the window, still Bob's: his latest success is his own, not Alice's.
        usage_record("b0:1", provider="openai", api_key_id="bob", time=NOW - timedelta(days=3)),
    )

    alice = await metrics.health(filter=pb.CostFilter(api_key_ids=["alice"]))
    bob = await metrics.health(filter=pb.CostFilter(api_key_ids=["bob"]))
    both = await metrics.health()

    assert set(alice) == {"ollama", "openai"}
    mine = alice["openai"]
    assert (mine.requests, mine.successes, mine.failures) == (1, 1, 0)
    assert mine.last_success_time.ToDatetime(tzinfo=UTC) == alice_ok
    assert not mine.HasField("last_failure_time")
    assert mine.last_error_type == ""
    assert list(bob) == ["openai"]
    theirs = bob["openai"]
    assert (theirs.requests, theirs.successes, theirs.failures) == (1, 0, 1)
    assert theirs.last_success_time.ToDatetime(tzinfo=UTC) == NOW - timedelta(days=3)
    assert (theirs.last_failure_time.ToDatetime(tzinfo=UTC), theirs.last_error_type) == (
        bob_bad,
        "RATE_LIMITED",
    )
    assert both["openai"].requests == 2  # no filter: every key, as an admin sees it
    only_ollama = await metrics.health(
        filter=pb.CostFilter(api_key_ids=["alice"], providers=["ollama"])
    )
    assert list(only_ollama) == ["ollama"]
