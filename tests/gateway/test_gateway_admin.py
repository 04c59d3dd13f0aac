"""``/v1/admin/*``: RouterAdminService over HTTP, with the router's errors in OpenAI's shape."""

from __future__ import annotations

import grpc
import httpx
import pytest

from llmrouter.v1 import router_admin_service_pb2 as pb

from .fake_admin import FakeAdmin
from .support import TEST_KEY_ID, Failure


async def test_models_with_their_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/admin/models")

    assert response.status_code == 200
    models = {m["model"]: m for m in response.json()["models"]}
    assert list(models) == ["sim-small", "gpt-4o-mini", "gpt-4o"]
    assert models["sim-small"] == {
        "model": "sim-small",
        "provider": "simulated",
        "enabled": True,
        "enabled_source": "config",
        "local": True,
        "breaker_state": "closed",
        "breaker_retry_after_ms": None,
        "success_rate": 0.75,
        "ewma_latency_ms": 12.5,
        "success_count": 3,
        "failure_count": 1,
        "consecutive_failures": 0,
        "last_success_time": "2026-11-01T00:00:00Z",
        "last_failure_time": None,
        "last_error_type": "",
        "deployment": None,
        "deployments": [],
    }
    assert models["gpt-4o-mini"]["breaker_state"] == "open"
    assert models["gpt-4o-mini"]["breaker_retry_after_ms"] == 240_000
    assert models["gpt-4o-mini"]["success_rate"] == 0.0  # measured zero, not unknown
    assert models["gpt-4o"]["success_rate"] is None  # never tried
    assert models["gpt-4o"]["ewma_latency_ms"] is None
    assert models["gpt-4o"]["enabled_source"] == "runtime"  # switched off by an admin change


async def test_disable_a_model(client: httpx.AsyncClient, admin: FakeAdmin) -> None:
    response = await client.post("/v1/admin/models/sim-small/enabled", json={"enabled": False})

    assert response.status_code == 200
    assert [(m["model"], m["enabled"], m["enabled_source"]) for m in response.json()["models"]] == [
        ("sim-small", False, "runtime")
    ]
    assert admin.requests[-1] == pb.SetModelEnabledRequest(model="sim-small", enabled=False)
    # The router records who made the change: the gateway tells it the API key id.
    assert admin.api_key_ids[-1] == TEST_KEY_ID


async def test_providers_with_their_base_url_source(
    client: httpx.AsyncClient, admin: FakeAdmin
) -> None:
    response = await client.get("/v1/admin/providers")

    assert response.status_code == 200
    assert response.json() == {
        "providers": [
            {
                "name": "simulated",
                "kind": "simulated",
                "base_url": None,
                "base_url_source": "config",
                "local": True,
            },
            {
                "name": "openai",
                "kind": "openai",
                "base_url": "https://proxy.example.com/v1",
                "base_url_source": "runtime",
                "local": False,
            },
        ]
    }
    assert admin.api_key_ids == [TEST_KEY_ID]


@pytest.mark.parametrize("path", ["openrouter/meta/llama-3", "openrouter%2Fmeta%2Fllama-3"])
async def test_model_names_may_hold_slashes(
    client: httpx.AsyncClient, admin: FakeAdmin, path: str
) -> None:
    response = await client.post(f"/v1/admin/models/{path}/enabled", json={"enabled": True})

    assert response.status_code == 404  # the fake does not know it; the name arrived whole
    assert admin.requests[-1].model == "openrouter/meta/llama-3"


async def test_switch_a_whole_provider(client: httpx.AsyncClient, admin: FakeAdmin) -> None:
    response = await client.post("/v1/admin/providers/openai/enabled", json={"enabled": False})

    assert response.status_code == 200
    assert {m["model"] for m in response.json()["models"]} == {"gpt-4o-mini", "gpt-4o"}
    assert admin.requests[-1] == pb.SetModelEnabledRequest(provider="openai", enabled=False)


async def test_reset_breaker(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/admin/models/gpt-4o-mini/reset-breaker")

    assert response.status_code == 200
    model = response.json()["model"]
    assert model["breaker_state"] == "closed"
    assert model["breaker_retry_after_ms"] is None


async def test_unknown_model_is_404_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/admin/models/nope/reset-breaker")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    assert response.json()["error"]["param"] == "model"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "enabled"),
        ({"enabled": "false"}, "enabled"),
        ({"enabled": 0}, "enabled"),
        ({"enabled": True, "model": "x"}, "model"),
        ([True], None),
    ],
)
async def test_switch_body_is_checked(
    client: httpx.AsyncClient, admin: FakeAdmin, body: object, param: str | None
) -> None:
    response = await client.post("/v1/admin/models/sim-small/enabled", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert admin.requests == []  # nothing reached the router


async def test_switch_body_must_be_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/admin/models/sim-small/enabled", content=b"enabled")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_categories_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/admin/categories")

    assert response.status_code == 200
    assert response.json() == {
        "classification_mode": "keywords",
        "categories": [
            {
                "name": "code",
                "chain": ["gpt-4o-mini", "sim-small"],
                "keywords": ["python"],
                "source": "config",
                "cache": True,
                "min_quality": None,
            },
            {
                "name": "conversation",
                "chain": ["sim-small"],
                "keywords": [],
                "source": "config",
                "cache": False,
                "min_quality": None,
            },
        ],
    }


async def test_create_update_delete_a_category(client: httpx.AsyncClient, admin: FakeAdmin) -> None:
    created = await client.post(
        "/v1/admin/categories", json={"name": "translation", "chain": ["gpt-4o", "sim-small"]}
    )
    assert created.status_code == 201
    assert created.json() == {
        "name": "translation",
        "chain": ["gpt-4o", "sim-small"],
        "keywords": [],
        "source": "runtime",
        "cache": True,
        "min_quality": None,
    }

    updated = await client.put(
        "/v1/admin/categories/translation",
        json={
            "name": "translation",
            "chain": ["sim-small"],
            "keywords": ["translate"],
            "min_quality": 0.7,
        },
    )
    assert updated.status_code == 200
    assert updated.json()["min_quality"] == 0.7
    assert admin.requests[-1].category == pb.Category(
        name="translation", chain=["sim-small"], keywords=["translate"], min_quality=0.7
    )

    deleted = await client.delete("/v1/admin/categories/translation")
    assert deleted.status_code == 200
    assert deleted.json() == {"name": "translation", "deleted": True}
    assert [c.name for c in admin.categories] == ["code", "conversation"]


async def test_router_validation_names_the_body_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/admin/categories", json={"name": "translation", "chain": ["sim-small", "nope"]}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    # The router says category.chain[1]; in the HTTP body that entry is chain[1].
    assert error["param"] == "chain[1]"
    assert error["message"] == "unknown model 'nope'"
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param"),
    [
        ("POST", "/v1/admin/categories", {"name": "code", "chain": ["sim-small"]}, 409, "name"),
        ("POST", "/v1/admin/categories", {"name": "x", "chain": "sim-small"}, 400, "chain"),
        ("POST", "/v1/admin/categories", {"name": "x", "chain": ["a", 1]}, 400, "chain[1]"),
        ("POST", "/v1/admin/categories", {"name": 7, "chain": ["sim-small"]}, 400, "name"),
        ("POST", "/v1/admin/categories", {"name": "x", "chain": [], "k": 1}, 400, "k"),
        ("POST", "/v1/admin/categories", {"name": "x", "chain": ["a"], "keywords": None}, 400,
         "keywords"),
        ("PUT", "/v1/admin/categories/code", {"name": "other", "chain": ["sim-small"]}, 400,
         "name"),
        ("PUT", "/v1/admin/categories/missing", {"chain": ["sim-small"]}, 404, "name"),
        ("POST", "/v1/admin/categories", {"name": "x", "chain": ["a"], "min_quality": 2}, 400,
         "min_quality"),
        ("PUT", "/v1/admin/categories/code", {"chain": ["a"], "min_quality": "high"}, 400,
         "min_quality"),
        ("DELETE", "/v1/admin/categories/missing", None, 404, "name"),
    ],
)  # fmt: skip
async def test_category_mistakes(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: object,
    status: int,
    param: str,
) -> None:
    response = await client.request(method, path, json=body)

    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


async def test_wrong_method_lists_the_allowed_ones(client: httpx.AsyncClient) -> None:
    response = await client.patch("/v1/admin/categories/code", json={})

    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"PUT", "DELETE"}


async def test_admin_needs_the_api_key(client: httpx.AsyncClient, admin: FakeAdmin) -> None:
    response = await client.post(
        "/v1/admin/models/sim-small/enabled",
        json={"enabled": False},
        headers={"authorization": ""},
    )

    assert response.status_code == 401
    assert admin.requests == []


async def test_router_down_is_503(client: httpx.AsyncClient, admin: FakeAdmin) -> None:
    admin.failure = Failure(grpc.StatusCode.UNAVAILABLE, "draining", reason="DRAINING")

    response = await client.get("/v1/admin/models")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "draining"


async def test_the_audit_log_newest_first_in_pages(
    client: httpx.AsyncClient, admin: FakeAdmin
) -> None:
    first = await client.get("/v1/admin/audit", params={"limit": 2})

    assert first.status_code == 200
    assert first.json() == {
        "events": [
            {
                "id": 3,
                "time": "2026-11-01T00:00:03Z",
                "actor": "token:ADMIN_TOKEN",
                "api_key_id": None,
                "action": "reset_breaker",
                "target": "model:gpt-4o-mini",
                "before": {"gpt-4o-mini": "open"},
                "after": {"gpt-4o-mini": "closed"},
                "version": 3,
            },
            {
                "id": 2,
                "time": "2026-11-01T00:00:02Z",
                "actor": "cert:operator",
                "api_key_id": None,
                "action": "update_category",
                "target": "category:code",
                "before": {"code": ["a"]},
                "after": {"code": ["b"]},
                "version": 2,
            },
        ],
        "next_before": 2,
    }
    assert admin.requests[-1] == pb.ListAuditEventsRequest(page_size=2)
    rest = await client.get("/v1/admin/audit", params={"before": 2})
    assert [(e["id"], e["api_key_id"]) for e in rest.json()["events"]] == [(1, "ops")]
    assert rest.json()["next_before"] is None
    assert admin.requests[-1] == pb.ListAuditEventsRequest(page_size=50, page_token="2")


async def test_alerts_newest_first_in_pages(client: httpx.AsyncClient, admin: FakeAdmin) -> None:
    first = await client.get("/v1/admin/alerts", params={"limit": 1})

    assert first.status_code == 200
    assert first.json() == {
        "alerts": [
            {
                "id": 2,
                "alert_id": "alert_2",
                "time": "2026-11-01T00:00:05Z",
                "kind": "error_rate",
                "scope": "key",
                "subject": "ops",
                "threshold": 0.5,
                "value": 0.75,
                "message": "15 of the last 20 requests of key ops failed",
                "payload": {"id": "alert_2", "kind": "error_rate"},
                "delivery": {
                    "status": "failed",
                    "attempts": 5,
                    "error": "https://hooks.example.com: HTTP 503",
                    "time": None,
                },
            }
        ],
        "next_before": 2,
    }
    assert admin.requests[-1] == pb.ListAlertsRequest(page_size=1)
    rest = await client.get("/v1/admin/alerts", params={"before": 2})
    [budget] = rest.json()["alerts"]
    assert (budget["subject"], budget["delivery"]) == (
        "research",
        {"status": "delivered", "attempts": 2, "error": None, "time": "2026-11-01T00:00:03Z"},
    )
    assert rest.json()["next_before"] is None
    assert admin.requests[-1] == pb.ListAlertsRequest(page_size=50, page_token="2")
    bad = await client.get("/v1/admin/alerts?limit=0")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "limit"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=1&limit=2", "limit"),
        ("before=-1", "before"),
        ("after=3", "after"),
    ],
)
async def test_audit_query_mistakes_name_the_parameter(
    client: httpx.AsyncClient, admin: FakeAdmin, query: str, param: str
) -> None:
    response = await client.get(f"/v1/admin/audit?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert admin.requests == []


async def test_budgets_with_their_period_and_amounts(
    client: httpx.AsyncClient, admin: FakeAdmin
) -> None:
    response = await client.get("/v1/admin/budgets")

    assert response.status_code == 200
    assert response.json() == {
        "budgets": [
            {
                "id": "search-monthly",
                "scope": "team",
                "subject": "search",
                "period": "month",
                "period_start": "2026-12-01T00:00:00Z",
                "period_end": "2027-01-01T00:00:00Z",
                "spent_usd": 12.5,
                "reserved_usd": 0.25,
                "remaining_usd": 87.25,
                "soft_usd": 80.0,
                "hard_usd": 100.0,
                "local": False,
            }
        ]
    }
    assert isinstance(admin.requests[-1], pb.ListBudgetsRequest)


async def test_an_evaluation_run_on_demand(client: httpx.AsyncClient, admin: FakeAdmin) -> None:
    limited = await client.post("/v1/admin/evaluation", json={"limit": 2})
    everything = await client.post("/v1/admin/evaluation")
    written_as_float = await client.post("/v1/admin/evaluation", json={"limit": 3.0})

    assert limited.status_code == everything.status_code == written_as_float.status_code == 200
    assert limited.json() == {"graded": 2, "failed": 1, "pending": 3, "judge_cost_usd": 0.0042}
    assert everything.json()["graded"] == 4
    assert [r.limit for r in admin.requests] == [2, 0, 3]
    assert all(isinstance(r, pb.RunEvaluationRequest) for r in admin.requests)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"limit": -1}, "limit"),
        ({"limit": 1.5}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 2**31}, "limit"),
        ({"limits": 3}, "limits"),
    ],
)
async def test_evaluation_mistakes_name_the_field(
    client: httpx.AsyncClient, admin: FakeAdmin, body: dict[str, object], param: str
) -> None:
    response = await client.post("/v1/admin/evaluation", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert admin.requests == []


async def test_evaluation_off_is_a_409_saying_so(
    client: httpx.AsyncClient, admin: FakeAdmin
) -> None:
    admin.failure = Failure(
        grpc.StatusCode.FAILED_PRECONDITION,
        "evaluation is not configured: set [router.evaluation] enabled = true",
        reason="FAILED_PRECONDITION",
    )
    response = await client.post("/v1/admin/evaluation", json={})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "evaluation_not_configured"
    assert "[router.evaluation] enabled" in response.json()["error"]["message"]
