"""Admin keys through a real gateway process: only a key marked admin may change routing for
every tenant (403 for the others, in OpenAI's error shape), and reports are the caller's own
unless its key is an admin key. With auth off (a local run, on loopback only) everything stays
open."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio

from .stack import Stack, gateway_section, metrics_section, router_section, stack, wait_usage

ALICE, BOB, OPS = "sk-alice-0123456789abcdef", "sk-bob-0123456789abcdef", "sk-ops-0123456789abcd"
HELLO = [{"role": "user", "content": "hi"}]
SENT = {"alice": 2, "bob": 3}
CATEGORY = {"name": "translation", "chain": ["sim-small"], "keywords": ["translate"]}
# Every admin route, with a body that would succeed for an admin key.
ADMIN_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/admin/models", None),
    ("GET", "/v1/admin/providers", None),
    ("GET", "/v1/admin/audit", None),
    ("POST", "/v1/admin/models/sim-small/enabled", {"enabled": False}),
    ("POST", "/v1/admin/models/sim-small/reset-breaker", None),
    ("POST", "/v1/admin/providers/simulated/enabled", {"enabled": False}),
    ("GET", "/v1/admin/categories", None),
    ("POST", "/v1/admin/categories", CATEGORY),
    ("PUT", "/v1/admin/categories/code", {"chain": ["sim-large"]}),
    ("DELETE", "/v1/admin/categories/code", None),
]

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def keyed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("admin")
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"alice:{ALICE},bob:{BOB}",
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{OPS}",
    }
    async with stack(tmp, env) as s:
        metrics = await s.start("metrics", "metrics", metrics_section(tmp))
        router = await s.start("router", "router", router_section(tmp, "r", metrics.port, ""))
        await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))
        # The same services behind a gateway with auth off, as a local run has it.
        await s.start(
            "open",
            "gateway",
            gateway_section([router.port], metrics.port, "auth_enabled = false"),
        )
        for name, key in (("alice", ALICE), ("bob", BOB)):
            client = openai.AsyncOpenAI(base_url=f"{s.url}/v1", api_key=key, max_retries=0)
            for _ in range(SENT[name]):
                await client.chat.completions.create(model="auto", messages=HELLO)
        assert len(await wait_usage(s.metrics_db, sum(SENT.values()))) == sum(SENT.values())
        yield s


async def call(url: str, key: str | None, method: str, path: str, body: Any = None) -> Any:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        return await http.request(method, path, json=body)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_a_non_admin_key_gets_403_on_every_admin_route(
    keyed: Stack, method: str, path: str, body: Any
) -> None:
    reply = await call(keyed.url, ALICE, method, path, body)
    assert reply.status_code == 403, reply.text
    error = reply.json()["error"]
    assert error["type"] == "permission_error"
    assert error["code"] == "insufficient_permissions"
    assert "admin API key" in error["message"]
    # Nothing changed: the model is still enabled and the category still there.
    models = (await call(keyed.url, OPS, "GET", "/v1/admin/models")).json()["models"]
    assert all(m["enabled"] for m in models)
    categories = (await call(keyed.url, OPS, "GET", "/v1/admin/categories")).json()
    assert "code" in [c["name"] for c in categories["categories"]]


async def test_the_sdk_sees_a_permission_error(keyed: Stack) -> None:
    client = openai.AsyncOpenAI(base_url=f"{keyed.url}/v1", api_key=BOB, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        await client.get("/admin/models", cast_to=object)


def by_key(report: dict[str, Any]) -> dict[str, int]:
    return {g["api_key_id"]: g["requests"] for g in report["groups"]}


@pytest.mark.parametrize("name", ["alice", "bob"])
async def test_each_key_sees_only_its_own_usage(keyed: Stack, name: str) -> None:
    key, other = (ALICE, "bob") if name == "alice" else (BOB, "alice")
    costs = (await call(keyed.url, key, "GET", "/v1/costs?group_by=api_key")).json()
    assert by_key(costs) == {name: SENT[name]}
    assert costs["totals"]["requests"] == SENT[name]
    usage = (await call(keyed.url, key, "GET", "/v1/usage?group_by=api_key")).json()
    assert by_key(usage) == {name: SENT[name]}
    own = await call(keyed.url, key, "GET", f"/v1/costs?api_key_id={name}")
    assert own.json()["totals"]["requests"] == SENT[name]

    for path in (f"/v1/costs?api_key_id={other}", f"/v1/usage?api_key_id={name},{other}"):
        refused = await call(keyed.url, key, "GET", path)
        assert refused.status_code == 403
        assert refused.json()["error"]["param"] == "api_key_id"

    summary = (await call(keyed.url, key, "GET", "/v1/dashboard/summary")).json()
    assert summary["caller"] == {"api_key_id": name, "admin": False}
    assert summary["totals"]["requests"] == SENT[name]


async def test_an_admin_key_sees_every_key_and_may_change_routing(keyed: Stack) -> None:
    costs = (await call(keyed.url, OPS, "GET", "/v1/costs?group_by=api_key")).json()
    assert by_key(costs) == SENT
    only_bob = (await call(keyed.url, OPS, "GET", "/v1/costs?api_key_id=bob")).json()
    assert only_bob["totals"]["requests"] == SENT["bob"]
    summary = (await call(keyed.url, OPS, "GET", "/v1/dashboard/summary")).json()
    assert summary["caller"] == {"api_key_id": "ops", "admin": True}
    assert summary["totals"]["requests"] == sum(SENT.values())

    created = await call(keyed.url, OPS, "POST", "/v1/admin/categories", CATEGORY)
    assert created.status_code == 201, created.text
    deleted = await call(keyed.url, OPS, "DELETE", "/v1/admin/categories/translation")
    assert deleted.status_code == 200
    # The audit log says which key did it (the router here takes no tokens: anonymous).
    audit = (await call(keyed.url, OPS, "GET", "/v1/admin/audit?limit=2")).json()["events"]
    # A category made at runtime is cached like any other (its cache flag is stored with it).
    # (No quality bound set: min_quality null.)
    translation = {
        "chain": ["sim-small"],
        "keywords": ["translate"],
        "cache": True,
        "min_quality": None,
    }
    assert [
        (e["action"], e["target"], e["actor"], e["api_key_id"], e["before"], e["after"])
        for e in audit
    ] == [
        (
            "delete_category",
            "category:translation",
            "anonymous",
            "ops",
            {"translation": translation},
            {"translation": None},
        ),
        (
            "create_category",
            "category:translation",
            "anonymous",
            "ops",
            {"translation": None},
            {"translation": translation},
        ),
    ]


@pytest.mark.parametrize("name", ["alice", "bob"])
async def test_each_key_sees_only_its_own_provider_health(keyed: Stack, name: str) -> None:
    key = ALICE if name == "alice" else BOB
    usage = (await call(keyed.url, key, "GET", "/v1/usage")).json()
    assert {p["provider"]: p["requests"] for p in usage["provider_health"]} == {
        "simulated": SENT[name]
    }
    summary = (await call(keyed.url, key, "GET", "/v1/dashboard/summary")).json()
    assert {p["provider"]: p["requests"] for p in summary["provider_health"]} == {
        "simulated": SENT[name]
    }
    every = (await call(keyed.url, OPS, "GET", "/v1/usage")).json()["provider_health"]
    assert {p["provider"]: p["requests"] for p in every} == {"simulated": sum(SENT.values())}


async def test_with_auth_off_everything_stays_open(keyed: Stack) -> None:
    url = f"http://127.0.0.1:{keyed.port('open')}"
    assert (await call(url, None, "GET", "/v1/admin/models")).status_code == 200
    costs = (await call(url, None, "GET", "/v1/costs?group_by=api_key")).json()
    assert by_key(costs) == SENT
    summary = (await call(url, None, "GET", "/v1/dashboard/summary")).json()
    assert summary["caller"] == {"api_key_id": None, "admin": True}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "gateway.example"])
async def test_auth_off_beyond_loopback_refuses_to_start(tmp_path: Path, host: str) -> None:
    # With auth off every caller is an admin: only a gateway on loopback may run that way.
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\nhost = "{host}"\nport = 0\nauth_enabled = false\n')
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("gateway: gateway.auth_enabled: false makes every caller an admin")
    assert f"host {host} is reachable from other machines" in line
