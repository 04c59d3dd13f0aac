"""``GET /v1/costs`` and ``GET /v1/usage`` over a fake MetricsService on a real gRPC server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import httpx
import pytest

from gateway import AppOptions, RunningGateway
from llmrouter.v1 import metrics_service_pb2 as m
from tests.conftest import free_port

from .fake_metrics import NOV_1, FakeMetrics
from .support import AUTH, Failure, StartGateway

NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
SUMMARY = {
    "requests": 4,
    "successes": 2,
    "failures": 1,
    "cancellations": 1,
    "prompt_tokens": 1000,
    "completion_tokens": 500,
    "total_tokens": 1500,
    "cache_read_tokens": 600,
    "cache_write_tokens": 100,
    "reasoning_tokens": 200,
    "cost_usd": 0.25,
    "average_latency_ms": 250.5,
    "p95_latency_ms": 1200.0,
    "fallback_count": 1,
    "fallback_rate": 0.25,
    "local_requests": 1,
    "remote_requests": 3,
    "reference_cost_usd": 1.0,
    "savings_usd": 0.75,
    "savings_percent": 75.0,
    "unpriced_requests": 1,
    "priced": False,
    "estimated_requests": 1,
    "cache_hits": 0,
    "cache_saved_usd": 0.0,
}
TOTALS = {
    **SUMMARY,
    "requests": 8,
    "successes": 6,
    "remote_requests": 7,
    "cost_usd": 0.5,
    "savings_usd": 0.5,
}


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    """The gateway with its clock fixed at NOW."""
    return await start_gateway(AppOptions(clock=lambda: NOW))


def seconds(stamp: Any) -> int:
    return int(stamp.seconds)


async def test_costs_grouped_by_provider_and_day(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    response = await client.get(
        "/v1/costs",
        params=[
            ("since", "36h"),
            ("group_by", "provider"),
            ("bucket", "day"),
            ("reference_model", "gpt-4o"),
        ],
    )

    assert response.status_code == 200
    assert response.json() == {
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-11-02T12:00:00Z",
        "group_by": ["provider"],
        "bucket": "day",
        "reference_model": "gpt-4o",
        "totals": TOTALS,
        "groups": [
            {"provider": "openai", "bucket_start": "2026-11-01T00:00:00Z", **SUMMARY},
            {"provider": "simulated", "bucket_start": "2026-11-01T00:00:00Z", **SUMMARY},
        ],
    }
    (sent,) = metrics.requests["QueryCosts"]
    assert seconds(sent.start_time) == NOV_1
    assert seconds(sent.end_time) == NOV_1 + 36 * 3600
    assert list(sent.group_by) == [m.DIMENSION_PROVIDER]
    assert sent.bucket == m.TIME_BUCKET_DAY
    assert sent.reference_model == "gpt-4o"


async def test_costs_filters_and_dimensions_reach_the_metrics_service(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    metrics.costs.ClearField("groups")
    query = (
        "group_by=model,api_key&group_by=source&group_by=model"
        "&provider=openai,simulated&provider=anthropic&model=gpt-4o"
        "&category=code&source=wt-7&api_key_id=ci&api_key_id=alice"
    )

    response = await client.get(f"/v1/costs?{query}")

    assert response.status_code == 200
    body = response.json()
    assert body["group_by"] == ["model", "api_key", "source"]
    assert body["start"] is None
    assert body["end"] is None
    assert body["bucket"] is None
    (sent,) = metrics.requests["QueryCosts"]
    assert list(sent.group_by) == [m.DIMENSION_MODEL, m.DIMENSION_API_KEY, m.DIMENSION_SOURCE]
    assert list(sent.filter.providers) == ["openai", "simulated", "anthropic"]
    assert list(sent.filter.models) == ["gpt-4o"]
    assert list(sent.filter.categories) == ["code"]
    assert list(sent.filter.sources) == ["wt-7"]
    assert list(sent.filter.api_key_ids) == ["ci", "alice"]
    assert not sent.HasField("start_time")
    assert not sent.HasField("end_time")
    assert sent.bucket == m.TIME_BUCKET_UNSPECIFIED


async def test_groups_show_only_the_grouped_fields(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    metrics.costs.groups[0].model = "gpt-4o"
    metrics.costs.groups[0].api_key_id = "ci"

    response = await client.get("/v1/costs?group_by=api_key,model")

    first = response.json()["groups"][0]
    assert {k: first[k] for k in ("api_key_id", "model")} == {"api_key_id": "ci", "model": "gpt-4o"}
    assert "provider" not in first
    assert "bucket_start" not in first


async def test_costs_group_by_deployment(client: httpx.AsyncClient, metrics: FakeMetrics) -> None:
    metrics.costs.groups[0].model = "gpt-4o"
    metrics.costs.groups[0].deployment = "east"

    response = await client.get("/v1/costs?group_by=model,deployment")

    assert response.status_code == 200, response.text
    (sent,) = metrics.requests["QueryCosts"]
    assert list(sent.group_by) == [m.DIMENSION_MODEL, m.DIMENSION_DEPLOYMENT]
    body = response.json()
    assert body["group_by"] == ["model", "deployment"]
    first = body["groups"][0]
    assert {k: first[k] for k in ("model", "deployment")} == {
        "model": "gpt-4o",
        "deployment": "east",
    }
    assert "provider" not in first


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("start=2026-11-01T00:00:00Z&end=2026-11-02", NOV_1, NOV_1 + 86400),
        ("start=2026-11-01T01:00:00%2B01:00", NOV_1, None),
        ("start=2026-11-01t00:00:00z", NOV_1, None),
        (f"start={NOV_1}&end={NOV_1 + 3600}.5", NOV_1, NOV_1 + 3600),
        ("since=1h&end=2026-11-01T01:00:00Z", NOV_1, NOV_1 + 3600),
        ("end=2026-11-01", None, NOV_1),
    ],
)
async def test_times_are_iso_or_unix_seconds(
    client: httpx.AsyncClient,
    metrics: FakeMetrics,
    query: str,
    start: int | None,
    end: int | None,
) -> None:
    response = await client.get(f"/v1/costs?{query}")

    assert response.status_code == 200, response.text
    (sent,) = metrics.requests["QueryCosts"]
    assert (seconds(sent.start_time) if sent.HasField("start_time") else None) == start
    assert (seconds(sent.end_time) if sent.HasField("end_time") else None) == end


@pytest.mark.parametrize(
    ("path", "query", "param"),
    [
        ("/v1/costs", "start=yesterday", "start"),
        ("/v1/costs", "end=2026-13-01", "end"),
        ("/v1/costs", "start=-5", "start"),
        ("/v1/costs", "since=24", "since"),
        ("/v1/costs", "since=0h", "since"),
        ("/v1/costs", "since=24h&start=2026-11-01", "since"),
        ("/v1/costs", "start=2026-11-02&end=2026-11-01", "end"),
        ("/v1/costs", "start=2026-11-01&end=2026-11-01", "end"),
        ("/v1/costs", "start=1&start=2", "start"),
        ("/v1/costs", "group_by=colour", "group_by"),
        ("/v1/costs", "group_by=provider,api_key_id", "group_by"),
        ("/v1/costs", "bucket=week", "bucket"),
        ("/v1/costs", "limit=5", "limit"),  # only /v1/usage lists events
        ("/v1/costs", "groupby=model", "groupby"),
        ("/v1/costs", "reference_model=" + "x" * 300, "reference_model"),
        ("/v1/usage", "limit=0", "limit"),
        ("/v1/usage", "limit=1001", "limit"),
        ("/v1/usage", "limit=ten", "limit"),
    ],
)
async def test_bad_params_are_400_naming_the_param(
    client: httpx.AsyncClient, metrics: FakeMetrics, path: str, query: str, param: str
) -> None:
    response = await client.get(f"{path}?{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert f"'{param}'" in error["message"]
    assert metrics.requests == {}


async def test_usage_adds_fallback_events_and_provider_health(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    response = await client.get("/v1/usage?since=7d&provider=simulated&limit=20&group_by=provider")

    assert response.status_code == 200
    body = response.json()
    assert body["totals"] == TOTALS
    assert body["start"] == "2026-10-26T12:00:00Z"
    assert body["fallback_events"] == [
        {
            "request_id": "req-9",
            "attempt": 2,
            "time": "2026-11-01T00:01:30Z",
            "model": "sim-large",
            "provider": "simulated",
            "fallback_from": "sim-small",
            "reason": "RATE_LIMITED",
            "status": "succeeded",
            "category": "code",
            "source": "wt-7",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        }
    ]
    assert body["provider_health"] == [
        {
            "provider": "simulated",
            "requests": 10,
            "successes": 10,
            "failures": 0,
            "success_rate": 1.0,
            "average_latency_ms": 12.5,
            "last_success_time": "2026-11-01T00:01:00Z",
            "last_failure_time": None,
            "last_error_type": "",
        }
    ]
    (events,) = metrics.requests["ListFallbackEvents"]
    (health,) = metrics.requests["GetProviderHealth"]
    assert events.page_size == 20
    assert list(events.filter.providers) == ["simulated"]
    assert health.filter == events.filter  # provider health counts the same records
    week_ago = int((NOW - dt.timedelta(days=7)).timestamp())
    for sent in (events, health, metrics.requests["QueryCosts"][0]):
        assert seconds(sent.start_time) == week_ago
        assert seconds(sent.end_time) == int(NOW.timestamp())


async def test_usage_lists_50_events_by_default(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    await client.get("/v1/usage")

    assert metrics.requests["ListFallbackEvents"][0].page_size == 50


@pytest.mark.parametrize(
    ("code", "status", "error_type"),
    [
        (grpc.StatusCode.UNAVAILABLE, 503, "service_unavailable_error"),
        (grpc.StatusCode.UNIMPLEMENTED, 501, "not_implemented_error"),
        (grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid_request_error"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/costs", "/v1/usage"])
async def test_metrics_errors_are_openai_errors(
    client: httpx.AsyncClient,
    metrics: FakeMetrics,
    path: str,
    code: grpc.StatusCode,
    status: int,
    error_type: str,
) -> None:
    metrics.failure = Failure(code, "metrics said no")

    response = await client.get(path)

    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type


async def test_unreachable_metrics_is_503(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(metrics_address=f"127.0.0.1:{free_port()}")
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        response = await http.get("/v1/costs")

    assert response.status_code == 503
    assert response.json()["error"]["message"] == (
        "The metrics service is unavailable; please retry shortly."
    )
    assert "127.0.0.1" not in response.text


async def test_not_a_number_reads_as_zero(client: httpx.AsyncClient, metrics: FakeMetrics) -> None:
    metrics.costs.totals.savings_percent = float("nan")

    response = await client.get("/v1/costs")

    assert response.json()["totals"]["savings_percent"] == 0.0
