"""QueryCosts through a real gRPC server; every expected figure is computed here from the
records the test sent, independently of the service's own arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import grpc
import pytest

from llmrouter.v1 import metrics_service_pb2 as pb

from .support import (
    NOW,
    REFERENCE_MODEL,
    Metrics,
    Sent,
    assert_summary,
    ms,
    rich_error,
    usage_record,
)

START = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-haiku"),
    ("ollama", "llama3"),
]


def dataset(count: int = 30) -> list[Sent]:
    """Records spread over ~8 hours with every dimension and outcome varying."""
    sent = []
    for i in range(count):
        provider, model = MODELS[i % 4]
        if i % 5 == 0:
            status = pb.USAGE_STATUS_FAILED
        elif i % 7 == 3:
            status = pb.USAGE_STATUS_CANCELLED
        else:
            status = pb.USAGE_STATUS_SUCCEEDED
        sent.append(
            Sent(
                id=f"q{i}:1",
                time=START + timedelta(minutes=17 * i),
                provider=provider,
                model=model,
                category=("chat", "code")[i % 2],
                source=("web", "cli", "ide")[i % 3],
                api_key_id=f"key-{i % 2}",
                team_id=("search", "ads", "")[i % 3],
                # Two named deployments and models without any ("").
                deployment=("east", "west", "", "west", "east")[i % 5],
                prompt_tokens=100 + 37 * i,
                completion_tokens=20 + 11 * i,
                cost_usd=0.0 if provider == "ollama" else 0.0001 * (i + 1),
                duration_ms=100 + (i * 53) % 900,
                status=status,
                fallback=i % 4 == 1,
                local=provider == "ollama",
                cache_read_tokens=(13 * i) % 90,
                cache_write_tokens=5 * (i % 3),
                reasoning_tokens=2 * (i % 4),
            )
        )
    return sent


async def test_totals_equal_the_sums_over_the_records_sent(metrics: Metrics) -> None:
    sent = dataset()
    assert len({s.status for s in sent}) == 3, "the dataset must mix outcomes"
    await metrics.record(*(s.to_pb() for s in sent))

    response = await metrics.query()

    assert_summary(response.totals, sent)
    assert response.reference_model == REFERENCE_MODEL
    assert list(response.groups) == []


async def test_p95_is_the_nearest_rank_not_an_interpolation(metrics: Metrics) -> None:
    await metrics.record(*(usage_record(f"d{i}:1", duration_ms=10 * i) for i in range(1, 21)))

    totals = (await metrics.query()).totals

    assert ms(totals.p95_latency) == 190.0  # 19th of 20 values; interpolation gives 190.5
    assert ms(totals.average_latency) == 105.0


async def test_groups_by_provider_and_model(metrics: Metrics) -> None:
    sent = dataset()
    await metrics.record(*(s.to_pb() for s in sent))

    response = await metrics.query(group_by=[pb.DIMENSION_PROVIDER, pb.DIMENSION_MODEL])

    groups = {(g.provider, g.model): g for g in response.groups}
    assert set(groups) == set(MODELS)
    for key, group in groups.items():
        assert_summary(group.summary, [s for s in sent if (s.provider, s.model) == key])
        assert (group.category, group.source, group.api_key_id) == ("", "", "")
        assert not group.HasField("bucket_start_time")
    assert_summary(response.totals, sent)


async def test_a_model_without_a_price_is_marked_unpriced(metrics: Metrics) -> None:
    # A remote model billed $0 for tokens has no known price; a local one is free, and a
    # remote attempt that used no tokens cost nothing.
    sent = dataset(8)
    base = sent[0]
    sent += [
        replace(base, id="u1:1", provider="openai", model="mystery", cost_usd=0.0),
        replace(base, id="u2:1", provider="openai", model="mystery", cost_usd=0.0),
        replace(
            base,
            id="u3:1",
            model="gpt-4o",
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0.0,
            status=pb.USAGE_STATUS_CANCELLED,
        ),
    ]
    await metrics.record(*(s.to_pb() for s in sent))

    response = await metrics.query(group_by=[pb.DIMENSION_MODEL])

    unpriced = {g.model: g.summary.unpriced_requests for g in response.groups}
    assert unpriced == {"mystery": 2, "gpt-4o-mini": 0, "gpt-4o": 0, "claude-haiku": 0, "llama3": 0}
    assert response.totals.unpriced_requests == 2
    for group in response.groups:
        assert_summary(group.summary, [s for s in sent if s.model == group.model])


@pytest.mark.parametrize(
    ("dimension", "attribute"),
    [
        (pb.DIMENSION_CATEGORY, "category"),
        (pb.DIMENSION_SOURCE, "source"),
        (pb.DIMENSION_API_KEY, "api_key_id"),
        (pb.DIMENSION_TEAM, "team_id"),
        (pb.DIMENSION_DEPLOYMENT, "deployment"),
    ],
)
async def test_groups_by_each_other_dimension(
    metrics: Metrics, dimension: pb.Dimension, attribute: str
) -> None:
    sent = dataset()
    await metrics.record(*(s.to_pb() for s in sent))

    response = await metrics.query(group_by=[dimension])

    expected_keys = sorted({getattr(s, attribute) for s in sent})
    assert [getattr(g, attribute) for g in response.groups] == expected_keys
    for group in response.groups:
        key = getattr(group, attribute)
        assert_summary(group.summary, [s for s in sent if getattr(s, attribute) == key])
        assert (group.provider, group.model) == ("", "")


def _hour(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, micro, tzinfo=UTC)


async def test_hour_buckets_start_on_utc_hour_boundaries(metrics: Metrics) -> None:
    sent = [
        ("h1:1", _hour(20, 9), "gpt-4o"),
        ("h2:1", _hour(20, 9, 59, 59, 999_999), "gpt-4o"),
        ("h3:1", _hour(20, 9, 30), "llama3"),
        ("h4:1", _hour(20, 10), "gpt-4o"),
        ("h5:1", _hour(20, 12, 15), "gpt-4o"),  # no record in hour 11: no group for it
    ]
    await metrics.record(*(usage_record(i, time=t, model=m, cost_usd=0.25) for i, t, m in sent))

    response = await metrics.query(bucket=pb.TIME_BUCKET_HOUR, group_by=[pb.DIMENSION_MODEL])

    got = [
        (g.bucket_start_time.ToDatetime(tzinfo=UTC), g.model, g.summary.requests)
        for g in response.groups
    ]
    assert got == [
        (_hour(20, 9), "gpt-4o", 2),
        (_hour(20, 9), "llama3", 1),
        (_hour(20, 10), "gpt-4o", 1),
        (_hour(20, 12), "gpt-4o", 1),
    ]
    assert all(
        g.summary.cost_usd == pytest.approx(0.25 * g.summary.requests) for g in response.groups
    )
    assert all(g.provider == "" for g in response.groups)


async def test_day_buckets_are_utc_days(metrics: Metrics) -> None:
    plus_two = timezone(timedelta(hours=2))
    await metrics.record(
        usage_record("d1:1", time=_hour(19, 0, 5)),
        # 01:30 at UTC+2 is 23:30 UTC on the 19th.
        usage_record("d2:1", time=datetime(2026, 11, 20, 1, 30, tzinfo=plus_two)),
        usage_record("d3:1", time=_hour(20, 0)),
        usage_record("d4:1", time=_hour(20, 11, 59)),
    )

    response = await metrics.query(bucket=pb.TIME_BUCKET_DAY)

    got = [
        (g.bucket_start_time.ToDatetime(tzinfo=UTC), g.summary.requests) for g in response.groups
    ]
    assert got == [(_hour(19, 0), 2), (_hour(20, 0), 2)]


@pytest.mark.parametrize(
    ("filter_fields", "matches"),
    [
        ({"providers": ["openai"]}, lambda s: s.provider == "openai"),
        ({"models": ["llama3", "claude-haiku"]}, lambda s: s.model in ("llama3", "claude-haiku")),
        (
            {"categories": ["code"], "sources": ["web", "ide"]},
            lambda s: s.category == "code" and s.source in ("web", "ide"),
        ),
        ({"api_key_ids": ["key-1"]}, lambda s: s.api_key_id == "key-1"),
        ({"team_ids": ["search"]}, lambda s: s.team_id == "search"),
        ({"providers": ["nobody"]}, lambda s: False),
    ],
    ids=["provider", "models", "category-and-sources", "api-key", "team", "no-match"],
)
async def test_filters_restrict_the_records(
    metrics: Metrics, filter_fields: dict[str, list[str]], matches: Callable[[Sent], bool]
) -> None:
    sent = dataset()
    await metrics.record(*(s.to_pb() for s in sent))

    response = await metrics.query(filter=pb.CostFilter(**filter_fields))

    assert_summary(response.totals, [s for s in sent if matches(s)])


async def test_window_start_is_inclusive_and_end_exclusive(metrics: Metrics) -> None:
    sent = dataset()
    await metrics.record(*(s.to_pb() for s in sent))
    start, end = sent[5].time, sent[12].time

    response = await metrics.query(
        start_time=start, end_time=end, filter=pb.CostFilter(providers=["openai", "ollama"])
    )

    expected = [s for s in sent if start <= s.time < end and s.provider in ("openai", "ollama")]
    # Both boundary records match the filter, so only the window decides about them.
    assert {sent[5].provider, sent[12].provider} <= {"openai", "ollama"}
    assert_summary(response.totals, expected)


async def test_an_open_window_runs_from_the_first_record_until_now(metrics: Metrics) -> None:
    await metrics.record(
        usage_record("old:1", time=datetime(2001, 1, 1, tzinfo=UTC)),
        usage_record("recent:1", time=NOW - timedelta(microseconds=1)),
        usage_record("future:1", time=NOW + timedelta(hours=1)),
    )

    assert (await metrics.query()).totals.requests == 2


async def test_an_empty_ledger_answers_zeros(metrics: Metrics) -> None:
    response = await metrics.query(group_by=[pb.DIMENSION_MODEL])

    assert response.totals == pb.CostSummary(average_latency=timedelta(0), p95_latency=timedelta(0))
    assert list(response.groups) == []


async def test_savings_percent_is_zero_without_reference_cost(metrics: Metrics) -> None:
    await metrics.record(usage_record("z:1", prompt_tokens=0, completion_tokens=0, cost_usd=0.0))

    totals = (await metrics.query()).totals

    assert (totals.reference_cost_usd, totals.savings_usd, totals.savings_percent) == (0, 0, 0)


async def test_a_cheaper_model_saves_against_the_reference(metrics: Metrics) -> None:
    # 1M prompt + 1M completion tokens cost 3 + 15 = 18 USD on the reference model.
    await metrics.record(
        usage_record("s:1", prompt_tokens=1_000_000, completion_tokens=1_000_000, cost_usd=4.5)
    )

    totals = (await metrics.query(reference_model=REFERENCE_MODEL)).totals

    assert totals.reference_cost_usd == pytest.approx(18.0)
    assert totals.savings_usd == pytest.approx(13.5)
    assert totals.savings_percent == pytest.approx(75.0)


async def test_unpriced_attempts_are_left_out_of_savings(metrics: Metrics) -> None:
    # Issue 16: a model with no known price (cost 0) showed 100 % savings, added to the totals.
    await metrics.record(
        usage_record("u1:1", model="mystery", prompt_tokens=300, completion_tokens=40, cost_usd=0),
        usage_record("u2:1", model="mystery", prompt_tokens=200, completion_tokens=60, cost_usd=0),
        usage_record("p:1", prompt_tokens=1_000_000, completion_tokens=1_000_000, cost_usd=4.5),
        usage_record("l:1", provider="ollama", model="llama3", cost_usd=0, local=True),
    )

    response = await metrics.query(group_by=[pb.DIMENSION_MODEL])

    unpriced = next(g.summary for g in response.groups if g.model == "mystery")
    assert unpriced.unpriced_requests == 2
    assert unpriced.reference_cost_usd == unpriced.savings_usd == unpriced.savings_percent == 0
    # A local model is free, not unpriced: its savings count (100 %).
    local = next(g.summary for g in response.groups if g.model == "llama3")
    assert local.savings_percent == pytest.approx(100.0)
    # Totals: 18 USD reference for the priced remote record plus 150 tokens of the local one.
    local_reference = (100 * 3.0 + 50 * 15.0) / 1e6
    assert response.totals.unpriced_requests == 2
    assert response.totals.reference_cost_usd == pytest.approx(18.0 + local_reference)
    assert response.totals.savings_usd == pytest.approx(13.5 + local_reference)


async def test_cached_prompt_tokens_are_priced_at_the_reference_cache_rates(
    metrics: Metrics,
) -> None:
    # Issue 16: cached prompt tokens were priced at the reference's full input rate.
    await metrics.record(
        usage_record(
            "c:1",
            prompt_tokens=1_000_000,
            completion_tokens=0,
            cost_usd=0.5,
            cache_read_tokens=600_000,
            cache_write_tokens=100_000,
        )
    )

    totals = (await metrics.query()).totals

    # 300k uncached at 3, 600k read at 0.3, 100k written at 3.75 USD per million.
    assert totals.reference_cost_usd == pytest.approx(0.9 + 0.18 + 0.375)
    assert totals.savings_usd == pytest.approx(0.9 + 0.18 + 0.375 - 0.5)


async def test_a_catalogue_reference_uses_its_listed_cache_rates(metrics: Metrics) -> None:
    await metrics.record(
        usage_record(
            "k:1",
            prompt_tokens=1_000_000,
            completion_tokens=0,
            cost_usd=0.1,
            cache_read_tokens=1_000_000,
        )
    )

    totals = (await metrics.query(reference_model="claude-sonnet-4-5")).totals

    # genai-prices lists claude-sonnet-4-5's cache reads at 0.30 USD per million (input: 3).
    assert totals.reference_cost_usd == pytest.approx(0.3)


async def test_an_unknown_reference_model_is_rejected(metrics: Metrics) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.query(reference_model="no-such-model")

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad_request = rich_error(caught.value)
    assert info.reason == "UNKNOWN_REFERENCE_MODEL"
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == ["reference_model"]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"start_time": NOW, "end_time": NOW - timedelta(hours=1)}, "end_time"),
        ({"start_time": NOW, "end_time": NOW}, "end_time"),
        ({"group_by": [pb.DIMENSION_MODEL, pb.DIMENSION_UNSPECIFIED]}, "group_by[1]"),
    ],
    ids=["end-before-start", "empty-window", "unspecified-dimension"],
)
async def test_an_invalid_query_names_the_field(
    metrics: Metrics, request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.query(**request_fields)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith(field)
    info, _ = rich_error(caught.value)
    assert (info.reason, info.metadata["field"]) == ("INVALID_COST_QUERY", field)


async def test_cache_hits_count_free_models_too(metrics: Metrics) -> None:
    # A hit of a zero-priced model saved $0, yet it is a hit; an ordinary row is not.
    hit = {"source": "cache", "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    await metrics.record(usage_record("h1:1", saved_cost_usd=0.002, **hit))
    await metrics.record(usage_record("h2:1", provider="ollama", model="llama3", **hit))
    await metrics.record(usage_record("u1:1", source="web", cost_usd=0.0))

    response = await metrics.query(group_by=[pb.DIMENSION_MODEL])

    assert response.totals.cache_hits == 2
    assert response.totals.cache_saved_usd == pytest.approx(0.002)
    free = next(g.summary for g in response.groups if g.model == "llama3")
    assert free.cache_hits == 1
    assert free.cache_saved_usd == 0
