"""A gateway with auth off (``make run``) serves this machine's own tools only: a web page the
developer happens to open can neither change routing nor spend provider credit through it
(cross-site "simple" requests: text/plain or form bodies need no preflight), nor read reports
through DNS rebinding (a hostile name resolving to 127.0.0.1 keeps its own Host header)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from .stack import Stack, gateway_section, metrics_section, router_section, stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHAT = b'{"model":"sim-small","messages":[{"role":"user","content":"hi"}]}'


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Metrics, a simulated router and a gateway with auth off, on 127.0.0.1."""
    tmp_path = tmp_path_factory.mktemp("local")
    async with stack(tmp_path, {"LLMROUTER_GATEWAY_AUTH_ENABLED": "false"}) as s:
        metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
        router = await s.start("router", "router", router_section(tmp_path, "r", metrics.port, ""))
        await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))
        yield s


async def _enabled(http: httpx.AsyncClient, model: str) -> bool:
    listed = (await http.get("/v1/admin/models")).json()
    return next(m["enabled"] for m in listed["models"] if m["model"] == model)


@pytest.mark.parametrize(
    ("headers", "content_type"),
    [
        ({"origin": "https://evil.example"}, "text/plain"),
        ({"origin": "https://evil.example"}, "application/x-www-form-urlencoded"),
        ({"origin": "null"}, "text/plain"),  # sandboxed iframes and file: pages
        ({"sec-fetch-site": "cross-site"}, "text/plain"),  # a browser that sends no Origin
        ({"host": "rebound.evil.example:8080"}, "application/json"),  # DNS rebinding
    ],
)
async def test_other_sites_cannot_change_routing(
    local: Stack, headers: dict[str, str], content_type: str
) -> None:
    async with httpx.AsyncClient(base_url=local.url, timeout=10) as http:
        assert await _enabled(http, "sim-small")
        refused = await http.post(
            "/v1/admin/models/sim-small/enabled",
            content=b'{"enabled": false}',
            headers={"content-type": content_type, **headers},
        )
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert error["type"] == "permission_error"
        assert "auth off" in error["message"]
        assert await _enabled(http, "sim-small"), "a cross-site request changed routing"
        chat = await http.post(
            "/v1/chat/completions", content=CHAT, headers={"content-type": content_type, **headers}
        )
        assert chat.status_code == 403


async def test_rebound_names_cannot_read_reports(local: Stack) -> None:
    async with httpx.AsyncClient(base_url=local.url, timeout=10) as http:
        for path in ("/v1/costs", "/v1/usage", "/v1/dashboard/summary", "/v1/models"):
            answer = await http.get(path, headers={"host": f"evil.example:{local.port('gateway')}"})
            assert answer.status_code == 403, (path, answer.text)
            # The whole body is the refusal: no report data rides along.
            assert set(answer.json()) == {"error"}, answer.text
            assert answer.json()["error"]["type"] == "permission_error"


@pytest.mark.parametrize("origin_host", ["localhost", "127.0.0.1", "[::1]", "app.localhost"])
async def test_this_machines_pages_and_tools_still_work(local: Stack, origin_host: str) -> None:
    port = local.port("gateway")
    async with httpx.AsyncClient(base_url=local.url, timeout=10) as http:
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
            chat = await http.post(
                "/v1/chat/completions",
                content=CHAT,
                headers={
                    "content-type": "application/json",
                    "host": host,
                    "origin": f"http://{origin_host}:{port}",
                    "sec-fetch-site": "same-origin",
                },
            )
            assert chat.status_code == 200, chat.text
        off = await http.post(
            "/v1/admin/models/sim-large/enabled",
            json={"enabled": False},
            headers={"origin": f"http://{origin_host}:{port}"},
        )
        assert off.status_code == 200, off.text
        assert not await _enabled(http, "sim-large")
        on = await http.post("/v1/admin/models/sim-large/enabled", json={"enabled": True})
        assert on.status_code == 200
