"""The gateway's own gRPC credentials refused, with real processes: a rotated or mis-scoped
router token, or a wrong metrics token, is the server's fault. Clients get a 502 that they are
told not to retry (an OpenAI SDK raises APIStatusError 502, never AuthenticationError or
PermissionDeniedError about a key that is fine), and the gateway's log
names the keys to check, never a token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import openai
import pytest
import pytest_asyncio

from .stack import Stack, gateway_section, metrics_section, router_section, stack

ALICE, OPS = "sk-alice-0123456789abcdef", "sk-ops-0123456789abcdef0"
INFERENCE, ADMIN = "tok-inference-0123456789", "tok-admin-0123456789"
RECORD, READ = "tok-record-0123456789", "tok-read-0123456789"
STALE = "tok-rotated-away-0123456789"
MESSAGE = (
    "The gateway is not authorized by the {service}. This is a problem in the server's "
    "configuration, not with your API key."
)
HELLO = [{"role": "user", "content": "hi"}]

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def services(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("credentials")
    env = {
        "LLMROUTER_GATEWAY_API_KEYS": f"alice:{ALICE}",
        "LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"ops:{OPS}",
        "INFERENCE_TOKEN": INFERENCE,
        "ADMIN_TOKEN": ADMIN,
        "RECORD_TOKEN": RECORD,
        "READ_TOKEN": READ,
        "STALE_TOKEN": STALE,
    }
    metrics_tokens = (
        'auth_tokens = [{ env = "RECORD_TOKEN", scopes = ["record"] },'
        ' { env = "READ_TOKEN", scopes = ["read"] }]'
    )
    router_tokens = (
        'metrics_token_env = "RECORD_TOKEN"\n'
        'auth_tokens = [{ env = "INFERENCE_TOKEN", scopes = ["inference"] },'
        ' { env = "ADMIN_TOKEN", scopes = ["admin"] }]'
    )
    async with stack(tmp, env) as s:
        metrics = await s.start("metrics", "metrics", metrics_section(tmp, metrics_tokens))
        router = await s.start(
            "router", "router", router_section(tmp, "r", metrics.port, router_tokens)
        )

        def gateway(extra: str) -> str:
            return gateway_section([router.port], metrics.port, extra)

        # A router token that was rotated away, and a metrics token that is not the read one.
        await s.start(
            "stale",
            "gateway",
            gateway('router_token_env = "STALE_TOKEN"\nmetrics_token_env = "RECORD_TOKEN"'),
        )
        # The inference token only: admin RPCs go out with it and lack the admin scope.
        await s.start(
            "unscoped",
            "gateway",
            gateway('router_token_env = "INFERENCE_TOKEN"\nmetrics_token_env = "READ_TOKEN"'),
        )
        yield s


def url(s: Stack, name: str) -> str:
    return f"http://127.0.0.1:{s.port(name)}"


def assert_not_authorized(reply: httpx.Response, service: str) -> None:
    assert reply.status_code == 502, reply.text
    assert reply.headers["x-should-retry"] == "false"
    assert reply.json()["error"] == {
        "message": MESSAGE.format(service=service),
        "type": "upstream_error",
        "param": None,
        "code": "gateway_not_authorized",
    }


async def test_the_sdk_sees_a_502_when_the_router_token_is_refused(services: Stack) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{url(services, 'stale')}/v1", api_key=ALICE, max_retries=0
    )
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model="auto", messages=HELLO)

    assert not isinstance(caught.value, openai.AuthenticationError | openai.PermissionDeniedError)
    assert caught.value.status_code == 502
    assert caught.value.code == "gateway_not_authorized"
    async with httpx.AsyncClient(base_url=url(services, "stale"), timeout=30) as http:
        reply = await http.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": HELLO},
            headers={"authorization": f"Bearer {ALICE}"},
        )
        streamed = await http.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": HELLO, "stream": True},
            headers={"authorization": f"Bearer {ALICE}"},
        )
    assert_not_authorized(reply, "router")
    assert_not_authorized(streamed, "router")
    log = services.services["stale"].log()
    assert "the router refused the gateway's credential (TOKEN_INVALID" in log
    assert "gateway.router_token_env" in log
    assert STALE not in log
    assert INFERENCE not in log


async def test_an_admin_route_without_the_admin_scope_is_a_502_naming_no_rpc(
    services: Stack,
) -> None:
    async with httpx.AsyncClient(
        base_url=url(services, "unscoped"), headers={"authorization": f"Bearer {OPS}"}, timeout=30
    ) as http:
        models = await http.get("/v1/admin/models")
        switched = await http.post("/v1/admin/models/sim-small/enabled", json={"enabled": False})
        chat = await http.post("/v1/chat/completions", json={"model": "auto", "messages": HELLO})

    assert_not_authorized(models, "router")
    assert_not_authorized(switched, "router")
    assert "RouterAdminService" not in models.text + switched.text
    assert chat.status_code == 200  # the inference scope still serves completions
    log = services.services["unscoped"].log()
    assert "(SCOPE_MISSING: this credential may not call" in log
    assert "gateway.router_admin_token_env" in log


async def test_a_refused_metrics_token_is_a_502_on_the_reports(services: Stack) -> None:
    async with httpx.AsyncClient(
        base_url=url(services, "stale"), headers={"authorization": f"Bearer {ALICE}"}, timeout=30
    ) as http:
        costs = await http.get("/v1/costs")
        usage = await http.get("/v1/usage")

    assert_not_authorized(costs, "metrics service")
    # /v1/usage asks the metrics service and the router (budgets) at once, and this gateway's
    # credentials for both are refused: the first refusal to arrive names its service.
    service = "router" if "by the router" in usage.text else "metrics service"
    assert_not_authorized(usage, service)
    log = services.services["stale"].log()
    assert "the metrics service refused the gateway's credential (SCOPE_MISSING" in log
    assert "gateway.metrics_token_env" in log
    assert RECORD not in log
