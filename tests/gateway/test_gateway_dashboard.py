"""The dashboard: its page and assets (open, no data, shipped in the package) and
``GET /v1/dashboard/summary`` over fake metrics and admin services."""

from __future__ import annotations

import asyncio
import datetime as dt
import fnmatch
import re
import tomllib
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import timestamp_pb2

from gateway import AppOptions, RunningGateway
from gateway.config import ApiKeyConfig, hash_key, load_config
from llmrouter.config import ConfigError
from llmrouter.v1 import metrics_service_pb2 as m
from llmrouter.v1 import router_admin_service_pb2 as pb

from .fake_admin import FakeAdmin
from .fake_metrics import FakeMetrics, ms, summary
from .support import Failure, StartGateway

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "gateway" / "dashboard"
NOW = dt.datetime(2026, 11, 2, 12, 30, tzinfo=dt.UTC)


def at(text: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt.datetime.fromisoformat(text))
    return stamp


def when(stamp: timestamp_pb2.Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=dt.UTC).isoformat()


def group(
    start: str,
    model: str = "",
    *,
    requests: int = 1,
    tokens: int = 0,
    fallbacks: int = 0,
    cost: float = 0.0,
    latency_ms: int = 0,
) -> m.CostGroup:
    """A bucket of a grouped QueryCosts answer, every request a success."""
    figures = m.CostSummary(
        requests=requests,
        successes=requests,
        total_tokens=tokens,
        fallback_count=fallbacks,
        cost_usd=cost,
        average_latency=ms(latency_ms),
    )
    return m.CostGroup(model=model, bucket_start_time=at(start), summary=figures)


def answer(request: m.QueryCostsRequest) -> m.QueryCostsResponse:
    """By model and hour: alpha yesterday evening and early today, beta this hour. By day: the
    days before today. By model alone (a window other than 24 hours): other figures."""
    if request.bucket == m.TIME_BUCKET_HOUR:
        groups = [
            group("2026-11-01T20:00:00+00:00", "alpha", requests=2, tokens=100, fallbacks=1,
                  cost=0.01, latency_ms=100),
            group("2026-11-02T03:00:00+00:00", "alpha", tokens=300, cost=0.02, latency_ms=400),
            group("2026-11-02T12:00:00+00:00", "beta", requests=5, tokens=700, fallbacks=2,
                  cost=0.2, latency_ms=200),
        ]  # fmt: skip
    elif request.bucket == m.TIME_BUCKET_DAY:
        groups = [
            group("2026-10-25T00:00:00+00:00", fallbacks=4, cost=1.0),  # not this week
            group("2026-10-30T00:00:00+00:00", fallbacks=3, cost=0.5),
            group("2026-11-01T00:00:00+00:00", fallbacks=1, cost=0.25),
        ]
    else:
        groups = [
            m.CostGroup(model="alpha", summary=summary(30, 1.0)),
            m.CostGroup(model="beta", summary=summary(50, 2.0)),
        ]
    return m.QueryCostsResponse(totals=summary(8, 0.23), groups=groups, reference_model="gpt-4o")


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
async def gateway(
    start_gateway: StartGateway, metrics: FakeMetrics, ticks: Ticks
) -> RunningGateway:
    """A gateway at NOW with a Jaeger URL given with a trailing slash."""
    metrics.answer_costs = answer
    return await start_gateway(
        AppOptions(clock=lambda: NOW, monotonic=ticks), jaeger_url="https://jaeger.example/ui/"
    )


# --- the summary -----------------------------------------------------------------------------


async def test_summary_in_one_round_trip(client: httpx.AsyncClient, metrics: FakeMetrics) -> None:
    response = await client.get("/v1/dashboard/summary")

    assert response.status_code == 200
    body = response.json()
    assert body["unavailable"] == []
    assert body["since"] == "24h"
    # The window is the hourly chart's: 24 whole hours, the last one up to now.
    assert (body["start"], body["end"]) == ("2026-11-01T13:00:00Z", "2026-11-02T12:30:00Z")
    assert body["totals"]["requests"] == 8
    assert body["reference_model"] == "gpt-4o"
    rows = [
        (r["model"], r["requests"], r["total_tokens"], r["average_latency_ms"], r["success_rate"])
        for r in body["by_model"]
    ]
    # Summed over the hours: alpha's latency is re-weighted by requests ((2*100 + 400) / 3).
    assert rows == [("beta", 5, 700, 200.0, 1.0), ("alpha", 3, 400, 200.0, 1.0)]
    assert body["by_model"][1]["cost_usd"] == pytest.approx(0.03)
    assert body["router_replicas"] == 1
    # By model and hour over 24 hours, by day over the 13 days before today: two QueryCosts.
    assert len(metrics.requests["QueryCosts"]) == 2
    assert len(metrics.requests["ListFallbackEvents"]) == 1
    assert len(metrics.requests["GetProviderHealth"]) == 1


async def test_hourly_and_daily_series_are_complete(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/dashboard/summary")).json()

    hours = body["hourly"]
    assert len(hours) == 24
    assert (hours[0]["bucket_start"], hours[-1]["bucket_start"]) == (
        "2026-11-01T13:00:00Z",
        "2026-11-02T12:00:00Z",
    )
    assert sum(h["total_tokens"] for h in hours) == 1100
    assert hours[1]["requests"] == hours[1]["total_tokens"] == 0  # an empty hour is zeros
    assert body["tokens_this_hour"] == 700

    days = body["daily"]
    assert len(days) == 14
    assert (days[0]["bucket_start"], days[-1]["bucket_start"]) == (
        "2026-10-20T00:00:00Z",
        "2026-11-02T00:00:00Z",
    )
    # Today is the sum of today's hours (03:00 and 12:00), not a query of its own.
    assert days[-1]["cost_usd"] == pytest.approx(0.22)
    assert days[-1]["requests"] == 6
    assert sum(d["cost_usd"] for d in days) == pytest.approx(1.97)
    assert body["fallbacks_today"] == 2
    assert body["fallbacks_week"] == 6  # 11-02, 11-01 and 10-30; 10-25 is older than 7 days


async def test_windows_asked_of_the_metrics_service(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    body = (await client.get("/v1/dashboard/summary", params={"since": "7d", "limit": "5"})).json()

    window, hourly, daily = sorted(metrics.requests["QueryCosts"], key=lambda r: r.bucket)
    assert list(window.group_by) == [m.DIMENSION_MODEL]
    assert when(window.start_time) == "2026-10-26T13:00:00+00:00"
    assert when(window.end_time) == "2026-11-02T12:30:00+00:00"
    assert hourly.bucket == m.TIME_BUCKET_HOUR
    assert list(hourly.group_by) == [m.DIMENSION_MODEL]
    assert when(hourly.start_time) == "2026-11-01T13:00:00+00:00"
    assert not hourly.HasField("end_time")
    assert daily.bucket == m.TIME_BUCKET_DAY
    assert when(daily.start_time) == "2026-10-20T00:00:00+00:00"
    assert when(daily.end_time) == "2026-11-02T00:00:00+00:00"
    events = metrics.requests["ListFallbackEvents"][0]
    assert events.page_size == 5
    assert when(events.start_time) == "2026-10-26T13:00:00+00:00"
    # The window's own figures; the hourly chart stays the last 24 hours.
    assert [(r["model"], r["requests"]) for r in body["by_model"]] == [("beta", 50), ("alpha", 30)]
    assert sum(h["total_tokens"] for h in body["hourly"]) == 1100


def daily_queries(metrics: FakeMetrics) -> int:
    return sum(1 for r in metrics.requests["QueryCosts"] if r.bucket == m.TIME_BUCKET_DAY)


async def test_past_days_are_kept_and_refreshed_behind_the_scenes(
    client: httpx.AsyncClient, metrics: FakeMetrics, ticks: Ticks
) -> None:
    for _ in range(3):
        assert (await client.get("/v1/dashboard/summary")).json()["fallbacks_week"] == 6
    assert daily_queries(metrics) == 1

    # A minute on: the kept days are answered at once, and fetched again in the background.
    ticks.now += 61
    answer_before = metrics.answer_costs
    metrics.answer_costs = lambda r: answer(r) if r.bucket != m.TIME_BUCKET_DAY else (
        m.QueryCostsResponse(groups=[group("2026-11-01T00:00:00+00:00", fallbacks=9)])
    )  # fmt: skip
    assert (await client.get("/v1/dashboard/summary")).json()["fallbacks_week"] == 6
    for _ in range(100):
        if daily_queries(metrics) == 2:
            break
        await asyncio.sleep(0.01)
    assert daily_queries(metrics) == 2
    await asyncio.sleep(0.05)  # the refresh lands
    assert (await client.get("/v1/dashboard/summary")).json()["fallbacks_week"] == 11
    assert daily_queries(metrics) == 2
    metrics.answer_costs = answer_before

    # Other prices are another answer, waited for.
    await client.get("/v1/dashboard/summary", params={"reference_model": "gpt-4o-mini"})
    assert daily_queries(metrics) == 3


async def test_past_days_are_kept_for_each_caller(
    start_gateway: StartGateway, metrics: FakeMetrics, ticks: Ticks
) -> None:
    # Two tenants taking turns: each one's days are kept, not evicted by the other's.
    metrics.answer_costs = answer
    keys = {"alice": "sk-alice-0123456789abcdef", "bob": "sk-bob-0123456789abcdef"}
    gateway = await start_gateway(
        AppOptions(clock=lambda: NOW, monotonic=ticks),
        api_keys=tuple(ApiKeyConfig(id=i, sha256=hash_key(k)) for i, k in keys.items()),
    )
    for _ in range(3):
        for key_id, key in keys.items():
            async with httpx.AsyncClient(
                base_url=gateway.url, headers={"authorization": f"Bearer {key}"}
            ) as http:
                body = (await http.get("/v1/dashboard/summary")).json()
            assert body["caller"]["api_key_id"] == key_id
            assert body["daily"] is not None

    days = [r for r in metrics.requests["QueryCosts"] if r.bucket == m.TIME_BUCKET_DAY]
    assert [list(r.filter.api_key_ids) for r in days] == [["alice"], ["bob"]]


async def test_days_kept_too_long_are_waited_for(
    client: httpx.AsyncClient, metrics: FakeMetrics, ticks: Ticks
) -> None:
    assert (await client.get("/v1/dashboard/summary")).json()["daily"] is not None
    ticks.now += 901

    def days_fail(request: m.QueryCostsRequest) -> m.QueryCostsResponse:
        if request.bucket == m.TIME_BUCKET_DAY:
            raise RuntimeError("the ledger is away")
        return answer(request)

    metrics.answer_costs = days_fail
    body = (await client.get("/v1/dashboard/summary")).json()

    assert body["hourly"] is not None
    assert body["daily"] is None  # not 15-minute-old figures passed off as current
    assert [u["service"] for u in body["unavailable"]] == ["metrics"]
    assert daily_queries(metrics) == 2


async def test_fallback_events_link_to_jaeger(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/dashboard/summary")).json()

    assert body["jaeger_url"] == "https://jaeger.example/ui"
    [event] = body["fallback_events"]
    assert event["trace_url"] == (
        "https://jaeger.example/ui/trace/4bf92f3577b34da6a3ce929d0e0e4736"
    )


async def test_no_link_without_a_trace_or_a_jaeger_url(
    start_gateway: StartGateway, metrics: FakeMetrics, client: httpx.AsyncClient
) -> None:
    metrics.events[0].trace_id = ""
    assert (await client.get("/v1/dashboard/summary")).json()["fallback_events"][0][
        "trace_url"
    ] is None

    metrics.events[0].trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    gateway = await start_gateway(jaeger_url="")
    async with httpx.AsyncClient(base_url=gateway.url, headers=client.headers) as other:
        body = (await other.get("/v1/dashboard/summary")).json()
    assert body["fallback_events"][0]["trace_url"] is None


@pytest.mark.parametrize(
    ("template", "link"),
    [
        (
            "http://localhost:6006/projects/UHJvamVjdDox/traces/{trace_id}",
            "http://localhost:6006/projects/UHJvamVjdDox/traces/4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        (
            "https://viewer.example/#/t/{trace_id}?from=dashboard",
            "https://viewer.example/#/t/4bf92f3577b34da6a3ce929d0e0e4736?from=dashboard",
        ),
    ],
    ids=["phoenix", "fragment"],
)
async def test_a_trace_url_template_wins_over_jaeger(
    start_gateway: StartGateway, client: httpx.AsyncClient, template: str, link: str
) -> None:
    gateway = await start_gateway(jaeger_url="https://jaeger.example/ui", trace_url=template)
    async with httpx.AsyncClient(base_url=gateway.url, headers=client.headers) as other:
        body = (await other.get("/v1/dashboard/summary")).json()
    assert body["fallback_events"][0]["trace_url"] == link


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("http://localhost:6006/projects/UHJvamVjdDox/traces/", "must contain {trace_id}"),
        ("http://localhost:6006/traces/{traceid}", "must contain {trace_id}"),
        ("localhost:6006/traces/{trace_id}", "http:// or https://"),
        ("javascript:alert(1)//{trace_id}", "http:// or https://"),
        ("http://localhost:6006/a b/{trace_id}", "http:// or https://"),
        ("http://{trace_id}.viewer.example/", "must not be in the host"),
    ],
)
def test_a_bad_trace_url_fails_at_start_naming_the_key(
    tmp_path: Path, template: str, complaint: str
) -> None:
    config = tmp_path / "llmrouter.toml"
    config.write_text(f'[gateway]\ntrace_url = "{template}"\n')
    with pytest.raises(ConfigError, match="trace_url") as caught:
        load_config(config, environ={})
    assert complaint in str(caught.value)


async def test_fallback_availability_per_category(
    client: httpx.AsyncClient, admin: FakeAdmin
) -> None:
    body = (await client.get("/v1/dashboard/summary")).json()

    availability = {c["name"]: (c["available"], c["available_models"]) for c in body["categories"]}
    # code: gpt-4o-mini's breaker is open, sim-small can serve.
    assert availability == {"code": (True, ["sim-small"]), "conversation": (True, ["sim-small"])}
    assert body["classification_mode"] == "keywords"

    admin.models[0].enabled = False  # sim-small
    body = (await client.get("/v1/dashboard/summary")).json()
    assert {c["name"]: c["available"] for c in body["categories"]} == {
        "code": False,
        "conversation": False,
    }
    admin.models[1].breaker_state = pb.BREAKER_STATE_HALF_OPEN  # probing: may serve
    body = (await client.get("/v1/dashboard/summary")).json()
    assert body["categories"][0]["available_models"] == ["gpt-4o-mini"]


async def test_router_down_leaves_its_parts_empty(
    client: httpx.AsyncClient, admin: FakeAdmin
) -> None:
    admin.failure = Failure(grpc.StatusCode.UNAVAILABLE, "x", rich=False)

    response = await client.get("/v1/dashboard/summary")

    assert response.status_code == 200
    body = response.json()
    assert body["models"] is None
    assert body["categories"] is None
    assert body["totals"]["requests"] == 8  # the metrics part is there
    assert body["unavailable"] == [
        {"service": "router", "message": "The router is unavailable; please retry shortly."}
    ]


async def test_metrics_down_leaves_its_parts_empty(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    metrics.failure = Failure(grpc.StatusCode.UNAVAILABLE, "x", rich=False)

    body = (await client.get("/v1/dashboard/summary")).json()

    for part in ("totals", "by_model", "hourly", "daily", "fallback_events", "provider_health"):
        assert body[part] is None, part
    assert body["fallbacks_today"] is None
    assert len(body["models"]) == 3
    assert [u["service"] for u in body["unavailable"]] == ["metrics"]


@pytest.mark.parametrize(
    ("query", "param"),
    [("group_by=model", "group_by"), ("since=soon", "since"), ("limit=0", "limit")],
)
async def test_summary_parameters_are_checked(
    client: httpx.AsyncClient, query: str, param: str
) -> None:
    response = await client.get(f"/v1/dashboard/summary?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_summary_needs_the_api_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/dashboard/summary", headers={"authorization": ""})

    assert response.status_code == 401


# --- the page and its assets -------------------------------------------------------------------


async def test_page_is_open_and_holds_no_data(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard", headers={"authorization": ""})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<body data-auth="enabled"' in response.text
    for figure in ("sim-small", "gpt-4o", "4bf92f35", "jaeger.example"):
        assert figure not in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"


async def test_page_without_auth_asks_for_no_key(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(auth_enabled=False)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.get("/dashboard")

    assert '<body data-auth="disabled"' in response.text


async def test_every_asset_the_page_names_is_served(client: httpx.AsyncClient) -> None:
    html = (await client.get("/dashboard")).text
    wanted = set(re.findall(r'(?:src|href)="(dashboard/static/[^"]+)"', html))
    for script in (PACKAGE / "static" / "js").glob("*.js"):
        for name in re.findall(r'from "\./([\w.]+)"', script.read_text()):
            wanted.add(f"dashboard/static/js/{name}")
    assert "dashboard/static/vendor/chart.umd.min.js" in wanted
    assert len(wanted) >= 8

    for path in sorted(wanted):
        response = await client.get(f"/{path}", headers={"authorization": ""})
        assert response.status_code == 200, path
        assert "content-security-policy" in response.headers


async def test_vendored_chart_js_is_the_documented_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/static/vendor/chart.umd.min.js")

    assert response.text.startswith("/*!\n * Chart.js v4.6.1\n")
    assert response.headers["content-type"].startswith(
        ("text/javascript", "application/javascript")
    )
    assert (PACKAGE / "static" / "vendor" / "chart.js.LICENSE.md").is_file()


@pytest.mark.parametrize("path", ["/dashboard/static/../pages.py", "/dashboard/static/nope.js"])
async def test_nothing_else_is_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 404


def test_package_data_ships_every_asset() -> None:
    """A file added under the dashboard that pyproject's package-data does not match would be
    missing from the wheel, and the page broken for everyone who pip-installs. Each asset
    belongs to the package of its directory (static/js/app.js -> gateway.dashboard.static.js)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    packages = config["tool"]["setuptools"]["packages"]
    files = [p.relative_to(PACKAGE) for p in PACKAGE.rglob("*") if p.is_file()]
    assets = [f for f in files if f.suffix not in (".py", ".pyc") and "__pycache__" not in f.parts]
    assert "index.html" in [a.as_posix() for a in assets]
    for asset in assets:
        package = ".".join(("gateway", "dashboard", *asset.parent.parts))
        assert package in packages, f"{asset}: {package} is not listed in packages"
        patterns = package_data.get(package, [])
        assert any(fnmatch.fnmatch(asset.name, pattern) for pattern in patterns), asset
