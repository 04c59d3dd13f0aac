"""Per-key and per-team views: ``/v1/costs`` grouped by ``team`` and ``api_key`` with each
row's budgets, and ``/v1/usage`` scoped to the caller with its own and its team's budgets, over
fake metrics and admin services on real gRPC servers.

The fake router holds four rules: alice's and bob's key budgets, team search's and team ops'.
alice (team search) is not an admin key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from gateway import ApiKeyConfig, RunningGateway, hash_key
from llmrouter.v1 import metrics_service_pb2 as m
from llmrouter.v1 import router_admin_service_pb2 as pb

from .fake_admin import FakeAdmin
from .fake_metrics import FakeMetrics
from .support import TEST_KEY, TEST_KEY_ID, Failure, StartGateway

ALICE_KEY = "sk-alice-views-0123456789"
ALICE = {"authorization": f"Bearer {ALICE_KEY}"}
# (id, scope, subject, hard, spent, reserved)
RULES = [
    ("alice-daily", "key", "alice", 5.0, 1.25, 0.5),
    ("bob-daily", "key", "bob", 2.0, 2.0, 0.0),
    ("search-monthly", "team", "search", 100.0, 12.5, 0.25),
    ("ops-monthly", "team", "ops", 50.0, 0.0, 0.0),
]


class BudgetsAdmin(FakeAdmin):
    """The fake admin service answering ListBudgets with :data:`RULES`."""

    async def ListBudgets(self, request: pb.ListBudgetsRequest, context: Any) -> Any:
        await self._enter(request, context)
        budgets = []
        for rule_id, scope, subject, hard, spent, reserved in RULES:
            status = pb.BudgetStatus(
                id=rule_id,
                scope=scope,
                subject=subject,
                period="day" if scope == "key" else "month",
                hard_usd=hard,
                spent_usd=spent,
                reserved_usd=reserved,
                remaining_usd=max(0.0, hard - spent - reserved),
            )
            status.period_start_time.FromSeconds(1_796_083_200)
            status.period_end_time.FromSeconds(1_796_169_600)
            budgets.append(status)
        return pb.ListBudgetsResponse(budgets=budgets)


@pytest.fixture
def admin() -> FakeAdmin:
    return BudgetsAdmin()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    """TEST_KEY (admin) and alice (team search, not an admin)."""
    return await start_gateway(
        api_keys=(
            ApiKeyConfig(id=TEST_KEY_ID, sha256=hash_key(TEST_KEY), admin=True),
            ApiKeyConfig(id="alice", sha256=hash_key(ALICE_KEY), team="search"),
        )
    )


@pytest.fixture
async def alice(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10.0, headers=ALICE) as http:
        yield http


def ids(budgets: list[dict[str, Any]]) -> list[str]:
    return [b["id"] for b in budgets]


def group(key: str, team: str, cost: float) -> m.CostGroup:
    return m.CostGroup(
        api_key_id=key, team_id=team, summary=m.CostSummary(requests=2, cost_usd=cost)
    )


async def test_costs_by_team_reach_the_ledger_and_carry_each_teams_budgets(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    metrics.costs.ClearField("groups")
    metrics.costs.groups.extend([group("", "search", 0.75), group("", "ops", 0.25)])

    response = await client.get("/v1/costs?group_by=team&team_id=search,ops")

    assert response.status_code == 200, response.text
    body = response.json()
    (sent,) = metrics.requests["QueryCosts"]
    assert list(sent.group_by) == [m.DIMENSION_TEAM]
    assert list(sent.filter.team_ids) == ["search", "ops"]
    assert [(g["team_id"], g["cost_usd"], ids(g["budgets"])) for g in body["groups"]] == [
        ("search", 0.75, ["search-monthly"]),
        ("ops", 0.25, ["ops-monthly"]),
    ]
    assert "api_key_id" not in body["groups"][0]
    assert ids(body["budgets"]) == ["search-monthly", "ops-monthly"]
    search = body["groups"][0]["budgets"][0]
    assert search == {
        "id": "search-monthly",
        "scope": "team",
        "subject": "search",
        "period": "month",
        "period_start": "2026-12-01T00:00:00Z",
        "period_end": "2026-12-02T00:00:00Z",
        "spent_usd": 12.5,
        "reserved_usd": 0.25,
        "remaining_usd": 87.25,
        "soft_usd": None,
        "hard_usd": 100.0,
        "local": False,
    }


async def test_rows_by_key_and_team_carry_both_rules_and_an_admin_sees_every_rule(
    client: httpx.AsyncClient, metrics: FakeMetrics, admin: FakeAdmin
) -> None:
    metrics.costs.ClearField("groups")
    metrics.costs.groups.extend([group("alice", "search", 0.5), group("bob", "", 2.0)])

    body = (await client.get("/v1/costs?group_by=api_key,team")).json()

    assert [(g["api_key_id"], ids(g["budgets"])) for g in body["groups"]] == [
        ("alice", ["alice-daily", "search-monthly"]),
        ("bob", ["bob-daily"]),
    ]
    assert ids(body["budgets"]) == [r[0] for r in RULES]
    assert isinstance(admin.requests[-1], pb.ListBudgetsRequest)


async def test_costs_not_grouped_by_key_or_team_do_not_ask_the_router(
    client: httpx.AsyncClient, admin: FakeAdmin
) -> None:
    body = (await client.get("/v1/costs?group_by=model")).json()

    assert "budgets" not in body
    assert "budgets" not in body["groups"][0]
    assert admin.requests == []


async def test_a_key_reads_its_own_usage_and_only_its_own_and_its_teams_budgets(
    alice: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    response = await alice.get("/v1/usage?group_by=model&since=24h")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["caller"] == {"api_key_id": "alice", "team_id": "search", "admin": False}
    assert ids(body["budgets"]) == ["alice-daily", "search-monthly"]
    alice_daily = body["budgets"][0]
    assert (alice_daily["spent_usd"], alice_daily["remaining_usd"]) == (1.25, 3.25)
    for call in ("QueryCosts", "ListFallbackEvents", "GetProviderHealth"):
        (sent,) = metrics.requests[call]
        assert list(sent.filter.api_key_ids) == ["alice"]
    assert list(metrics.requests["QueryCosts"][0].group_by) == [m.DIMENSION_MODEL]


async def test_a_key_grouping_its_costs_sees_only_its_own_rows_rules(
    alice: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    metrics.costs.ClearField("groups")
    metrics.costs.groups.extend([group("alice", "search", 0.5)])

    body = (await alice.get("/v1/costs?group_by=api_key,team&team_id=search")).json()

    assert ids(body["groups"][0]["budgets"]) == ["alice-daily", "search-monthly"]
    assert ids(body["budgets"]) == ["alice-daily", "search-monthly"]
    (sent,) = metrics.requests["QueryCosts"]
    assert list(sent.filter.api_key_ids) == ["alice"]
    assert list(sent.filter.team_ids) == ["search"]


@pytest.mark.parametrize("path", ["/v1/costs", "/v1/usage"])
@pytest.mark.parametrize(
    ("query", "param", "named"),
    [
        ("api_key_id=bob", "api_key_id", "API key 'bob'"),
        ("api_key_id=alice,bob", "api_key_id", "API key 'bob'"),
        ("team_id=ops", "team_id", "team 'ops'"),
        ("group_by=team&team_id=search&team_id=ops", "team_id", "team 'ops'"),
    ],
)
async def test_a_key_asking_for_another_key_or_team_gets_403_naming_the_param(
    alice: httpx.AsyncClient,
    metrics: FakeMetrics,
    admin: FakeAdmin,
    path: str,
    query: str,
    param: str,
    named: str,
) -> None:
    response = await alice.get(f"{path}?{query}")

    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("permission_error", param)
    assert named in error["message"]
    assert metrics.requests == {}
    assert admin.requests == []


async def test_an_admin_reads_another_keys_usage_with_that_keys_rules(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    body = (await client.get("/v1/usage?api_key_id=bob")).json()

    assert ids(body["budgets"]) == ["bob-daily"]
    assert list(metrics.requests["QueryCosts"][0].filter.api_key_ids) == ["bob"]
    team = (await client.get("/v1/usage?team_id=ops")).json()
    assert ids(team["budgets"]) == ["ops-monthly"]


@pytest.mark.parametrize("path", ["/v1/costs?group_by=api_key", "/v1/usage"])
async def test_a_router_that_cannot_list_budgets_makes_the_view_a_503(
    client: httpx.AsyncClient, admin: FakeAdmin, path: str
) -> None:
    admin.failure = Failure(grpc.StatusCode.UNAVAILABLE, "down")

    response = await client.get(path)

    assert response.status_code == 503
    assert response.json()["error"]["type"] == "service_unavailable_error"
