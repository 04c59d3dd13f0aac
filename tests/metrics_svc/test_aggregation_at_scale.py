"""QueryCosts over a few thousand records: the database's sums, counts, buckets and p95 agree
with the test's own arithmetic over what it sent, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from sqlalchemy.engine import make_url

from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.config import MetricsConfig
from metrics_svc.server import start

from .support import NOW, Metrics, Sent, assert_summary, usage_record

COUNT = 3000
FIRST = NOW - timedelta(days=3)
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-haiku"),
    ("anthropic", "claude-sonnet"),
    ("ollama", "llama3"),
]
STATUSES = [pb.USAGE_STATUS_SUCCEEDED] * 7 + [pb.USAGE_STATUS_FAILED] * 2
STATUSES.append(pb.USAGE_STATUS_CANCELLED)


def dataset(seed: int = 5) -> list[Sent]:
    """Records spread over three days, some exactly on hour boundaries, with many equal
    durations (ties are where percentile definitions disagree)."""
    rng = random.Random(seed)
    sent = []
    for i in range(COUNT):
        provider, model = rng.choice(MODELS)
        if i % 50 == 0:
            time = FIRST + timedelta(hours=rng.randrange(72))
        else:
            time = FIRST + timedelta(seconds=rng.uniform(0, 72 * 3600))
        sent.append(
            Sent(
                id=f"s{i}:1",
                time=time,
                provider=provider,
                model=model,
                category=rng.choice(["chat", "code", "summarize"]),
                source=rng.choice(["web", "cli", "ide", ""]),
                api_key_id=rng.choice(["key-a", "key-b"]),
                prompt_tokens=rng.randint(0, 20_000),
                completion_tokens=rng.randint(0, 4_000),
                cost_usd=0.0 if provider == "ollama" else rng.uniform(0, 0.05),
                duration_ms=rng.choice([rng.randint(20, 9_000), 250, 1_000]),
                status=rng.choice(STATUSES),
                fallback=rng.random() < 0.15,
                local=provider == "ollama",
                usage_estimated=rng.random() < 0.1,
            )
        )
    return sent


async def send(metrics: Metrics, sent: list[Sent]) -> None:
    for i in range(0, len(sent), 500):
        await metrics.record(*(s.to_pb() for s in sent[i : i + 500]))


def hour(time: datetime) -> datetime:
    return time.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day(time: datetime) -> datetime:
    return hour(time).replace(hour=0)


def assert_groups(
    response: pb.QueryCostsResponse,
    sent: list[Sent],
    key: Callable[[Sent], Hashable],
    group_key: Callable[[pb.CostGroup], Hashable],
) -> None:
    """``response`` holds one group per distinct ``key`` of ``sent``, each with its figures."""
    expected: dict[Hashable, list[Sent]] = defaultdict(list)
    for s in sent:
        expected[key(s)].append(s)
    got = {group_key(g): g for g in response.groups}
    assert len(got) == len(response.groups), "group keys are unique"
    assert set(got) == set(expected)
    for k, group in got.items():
        assert_summary(group.summary, expected[k])
    assert_summary(response.totals, sent)


def bucket(group: pb.CostGroup) -> datetime:
    return group.bucket_start_time.ToDatetime(tzinfo=UTC)


async def test_totals_and_groups_agree_with_python_arithmetic(metrics: Metrics) -> None:
    sent = dataset()
    await send(metrics, sent)

    by_model = await metrics.query(group_by=[pb.DIMENSION_PROVIDER, pb.DIMENSION_MODEL])
    by_hour = await metrics.query(bucket=pb.TIME_BUCKET_HOUR, group_by=[pb.DIMENSION_SOURCE])
    by_day = await metrics.query(
        bucket=pb.TIME_BUCKET_DAY, group_by=[pb.DIMENSION_CATEGORY, pb.DIMENSION_API_KEY]
    )

    assert_groups(by_model, sent, lambda s: (s.provider, s.model), lambda g: (g.provider, g.model))
    assert_groups(
        by_hour, sent, lambda s: (hour(s.time), s.source), lambda g: (bucket(g), g.source)
    )
    assert_groups(
        by_day,
        sent,
        lambda s: (day(s.time), s.category, s.api_key_id),
        lambda g: (bucket(g), g.category, g.api_key_id),
    )
    assert len(by_hour.groups) > 200
    # Listed by bucket, then by the dimension values.
    assert [(bucket(g), g.source) for g in by_hour.groups] == sorted(
        (bucket(g), g.source) for g in by_hour.groups
    )


async def test_a_window_and_filter_agree_with_python_arithmetic(metrics: Metrics) -> None:
    sent = dataset(seed=6)
    await send(metrics, sent)
    start, end = FIRST + timedelta(hours=20), FIRST + timedelta(hours=50)
    providers = {"openai", "ollama"}

    response = await metrics.query(
        start_time=start,
        end_time=end,
        filter=pb.CostFilter(providers=sorted(providers), sources=["web", "ide"]),
        bucket=pb.TIME_BUCKET_DAY,
    )

    chosen = [
        s
        for s in sent
        if start <= s.time < end and s.provider in providers and s.source in ("web", "ide")
    ]
    assert len(chosen) > 300
    assert_groups(response, chosen, lambda s: day(s.time), bucket)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_buckets_are_utc_whatever_the_database_time_zone(database_url: str) -> None:
    # +05:30: a bucket cut in the session's zone would start at :30 and on the wrong day.
    url = make_url(database_url)
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        await admin.execute(f"ALTER DATABASE \"{url.database}\" SET timezone TO 'Asia/Kolkata'")
    finally:
        await admin.close()
    times = [datetime(2026, 11, 19, 23, 45, tzinfo=UTC), datetime(2026, 11, 20, 0, 15, tzinfo=UTC)]
    config = MetricsConfig(
        port=0, prometheus_port=0, database_url=database_url, shutdown_grace_s=1.0
    )
    running = await start(config, clock=lambda: NOW)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            metrics = Metrics(metrics_service_pb2_grpc.MetricsServiceStub(channel), running, config)
            times = [
                datetime(2026, 11, 19, 23, 45, tzinfo=UTC),
                datetime(2026, 11, 20, 0, 15, tzinfo=UTC),
            ]
            await metrics.record(*(usage_record(f"z{i}:1", time=t) for i, t in enumerate(times)))

            days = await metrics.query(bucket=pb.TIME_BUCKET_DAY)
            hours = await metrics.query(bucket=pb.TIME_BUCKET_HOUR)
    finally:
        await running.stop()

    assert [(bucket(g), g.summary.requests) for g in days.groups] == [
        (datetime(2026, 11, 19, tzinfo=UTC), 1),
        (datetime(2026, 11, 20, tzinfo=UTC), 1),
    ]
    assert [bucket(g) for g in hours.groups] == [hour(t) for t in times]
