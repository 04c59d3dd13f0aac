"""The router channel: one channel spread round robin over replicas; deadlines from the client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.channels import router_target
from llmrouter.serving import StartupError, start_grpc_server
from llmrouter.v1 import router_service_pb2_grpc

from .conftest import ROUTER_SERVICE
from .fake_metrics import FakeMetrics
from .support import AUTH, FakeRouter, StartGateway

CHAT = "/v1/chat/completions"
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def second_router() -> AsyncIterator[FakeRouter]:
    """Another fake router replica on its own real gRPC server."""
    fake = FakeRouter()
    server = await start_grpc_server(
        "127.0.0.1:0",
        lambda s: router_service_pb2_grpc.add_RouterServiceServicer_to_server(fake, s),
        [ROUTER_SERVICE],
    )
    fake.port = server.port
    fake.server = server
    yield fake
    await server.stop(0)


async def test_calls_spread_over_two_routers(
    start_gateway: StartGateway, router: FakeRouter, second_router: FakeRouter
) -> None:
    gateway = await start_gateway(
        router_addresses=(f"127.0.0.1:{router.port}", f"localhost:{second_router.port}")
    )
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        statuses = [(await http.post(CHAT, json=BODY)).status_code for _ in range(20)]

    assert statuses == [200] * 20
    # round_robin connects to both at once; each gets about half (the first calls may
    # all go to whichever replica was ready first).
    assert len(router.requests) >= 5
    assert len(second_router.requests) >= 5
    assert len(router.requests) + len(second_router.requests) == 20


async def test_a_replica_going_away_leaves_the_others_serving(
    start_gateway: StartGateway, router: FakeRouter, second_router: FakeRouter
) -> None:
    gateway = await start_gateway(
        router_addresses=(f"127.0.0.1:{router.port}", f"127.0.0.1:{second_router.port}")
    )
    async with httpx.AsyncClient(base_url=gateway.url, headers=AUTH) as http:
        for _ in range(6):
            await http.post(CHAT, json=BODY)
        assert second_router.server is not None
        await second_router.server.stop(0)
        statuses = [(await http.post(CHAT, json=BODY)).status_code for _ in range(10)]

    assert statuses == [200] * 10


async def test_x_request_timeout_becomes_the_router_deadline(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    await client.post(CHAT, json=BODY, headers={"x-request-timeout": "2.5"})
    await client.post(CHAT, json={**BODY, "stream": True}, headers={"x-request-timeout": "3"})
    await client.get("/v1/models", headers={"x-request-timeout": "4"})

    # gRPC rounds deadlines on the wire, so a little over the header's value is the same one.
    assert router.time_remaining == [
        pytest.approx(2.5, abs=0.5),
        pytest.approx(3.0, abs=0.5),
        pytest.approx(4.0, abs=0.5),
    ]


async def test_x_request_timeout_is_capped_by_the_config(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    await client.post(CHAT, json=BODY, headers={"x-request-timeout": "3600"})

    assert router.time_remaining == [pytest.approx(30.0, abs=1.0)]  # request_timeout_s = 30


async def test_x_request_timeout_reaches_the_metrics_service(
    client: httpx.AsyncClient, metrics: FakeMetrics
) -> None:
    await client.get("/v1/usage", headers={"x-request-timeout": "2"})

    assert metrics.time_remaining == [pytest.approx(2.0, abs=0.5)] * 3


@pytest.mark.parametrize("value", ["0", "0.5", "-3", "soon", "nan", "inf", ""])
async def test_bad_x_request_timeout_is_400(
    client: httpx.AsyncClient, router: FakeRouter, value: str
) -> None:
    response = await client.post(CHAT, json=BODY, headers={"x-request-timeout": value})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "x-request-timeout"
    assert "X-Request-Timeout" in error["message"]
    assert router.requests == []


async def test_a_timeout_body_field_is_refused(
    client: httpx.AsyncClient, router: FakeRouter
) -> None:
    # The OpenAI SDK's timeout is a client-side setting; a body field of that name is unknown
    # (not a deadline: X-Request-Timeout is).
    response = await client.post(CHAT, json={**BODY, "timeout": 0.001})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "timeout"
    assert router.requests == []


@pytest.mark.parametrize(
    ("addresses", "target"),
    [
        (["router:50051"], "dns:///router:50051"),
        (["127.0.0.1:1", "127.0.0.1:2"], "ipv4:127.0.0.1:1,127.0.0.1:2"),
        (["localhost:1", "10.0.0.2:2"], "ipv4:127.0.0.1:1,10.0.0.2:2"),
        (["[::1]:1", "[fd00::2]:2"], "ipv6:[::1]:1,[fd00::2]:2"),
    ],
)
async def test_router_target(addresses: list[str], target: str) -> None:
    assert await router_target(addresses) == target


async def test_an_unknown_router_host_fails_start_naming_it(start_gateway: StartGateway) -> None:
    with pytest.raises(StartupError, match=r"cannot resolve router address nonexistent\.invalid"):
        await start_gateway(router_addresses=("127.0.0.1:1", "nonexistent.invalid:2"))


async def test_router_target_refuses_mixed_families() -> None:
    with pytest.raises(StartupError, match="cannot mix IPv4 and IPv6"):
        await router_target(["127.0.0.1:1", "[::1]:2"])
