"""gRPC message limits follow the HTTP ones: an answer over a limit is a 502 the ``openai`` SDK does
not retry (it used to be a 429 the SDK retried, so the upstream served, and billed, the same
answer three times), a request over one is a 413 naming the key that sets the limit, and an
answer within the limits arrives whole, as does a 10 MB prompt with the default limits.

Real processes: one metrics service, two routers (default limits; ``max_response_bytes`` 4 MiB
with ``max_receive_message_bytes`` 1 MiB) and three gateways, over a fake OpenAI upstream whose
answer is 5 MiB of text.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import openai
import pytest
import pytest_asyncio

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .stack import (
    Stack,
    gateway_section,
    metrics_section,
    openai_models,
    router_section,
    stack,
    wait_usage,
)

KEY = "sk-sizes-0123456789abcdef"
MiB = 1024 * 1024
BIG = "x" * (5 * MiB)
HELLO = [{"role": "user", "content": "hi"}]

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Sizes:
    stack: Stack
    upstream: FakeUpstream

    def url(self, gateway: str) -> str:
        return f"http://127.0.0.1:{self.stack.port(gateway)}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sizes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sizes]:
    tmp = tmp_path_factory.mktemp("sizes")
    async with running_upstream() as upstream:
        upstream.set("big", Behavior(text=BIG, chunks=1))
        models = 'default_chain = ["big"]\n' + openai_models(
            "fake", upstream.base_url, ["big", "small"]
        )
        async with stack(tmp, {"LLMROUTER_GATEWAY_API_KEYS": f"sizes:{KEY}"}) as s:
            metrics = await s.start("metrics", "metrics", metrics_section(tmp))
            wide = await s.start(
                "wide", "router", router_section(tmp, "wide", metrics.port, models)
            )
            narrow_body = f"max_response_bytes = {4 * MiB}\nmax_receive_message_bytes = {MiB}\n"
            narrow = await s.start(
                "narrow",
                "router",
                router_section(tmp, "narrow", metrics.port, narrow_body + models),
            )
            # Default limits: a 5 MiB answer fits (gRPC's own default would refuse it at 4 MiB).
            await s.start("gw", "gateway", gateway_section([wide.port], metrics.port))
            # Receives at most 4 MiB from a router that sends up to 16 MiB.
            await s.start(
                "gw-small",
                "gateway",
                gateway_section([wide.port], metrics.port, f"max_response_bytes = {4 * MiB}"),
            )
            # Accepts 2 MiB bodies for a router that receives 1 MiB and sends 4 MiB.
            await s.start(
                "gw-narrow",
                "gateway",
                gateway_section([narrow.port], metrics.port, f"max_body_bytes = {2 * MiB}"),
            )
            yield Sizes(s, upstream)


def sdk(url: str) -> openai.AsyncOpenAI:
    """The SDK with its default retries (2): a retried error would call the upstream again."""
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, timeout=60)


async def test_an_answer_within_the_limit_arrives_whole(sizes: Sizes) -> None:
    before = sizes.upstream.calls("big")
    answer = await sdk(sizes.url("gw")).chat.completions.create(model="auto", messages=HELLO)
    assert answer.choices[0].message.content == BIG
    assert sizes.upstream.calls("big") == before + 1


@pytest.mark.parametrize("gateway", ["gw-small", "gw-narrow"])
async def test_an_answer_over_a_limit_is_a_502_the_sdk_does_not_retry(
    sizes: Sizes, gateway: str
) -> None:
    """gw-small refuses to receive it; the narrow router refuses to send it."""
    before = sizes.upstream.calls("big")
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk(sizes.url(gateway)).chat.completions.create(model="auto", messages=HELLO)
    error = caught.value
    assert error.status_code == 502
    assert error.response.headers["x-should-retry"] == "false"
    assert isinstance(error.body, dict)
    assert error.body["type"] == "upstream_error"
    assert error.body["code"] == "response_too_large"
    assert str(4 * MiB) in error.body["message"]
    # Served (and billed) upstream once, and recorded once: no retry by the SDK or the router.
    calls = sizes.upstream.calls("big")
    assert calls == before + 1
    rows = await wait_usage(sizes.stack.metrics_db, calls)
    assert len(rows) == calls  # one row per upstream call, each a served attempt
    assert {status for _, status, _ in rows} == {"succeeded"}


async def test_the_router_says_when_it_cannot_send_an_answer(sizes: Sizes) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        reply = await http.post(
            f"{sizes.url('gw-narrow')}/v1/chat/completions",
            json={"model": "auto", "messages": HELLO},
            headers={"authorization": f"Bearer {KEY}"},
        )
    assert reply.status_code == 502
    assert "not sent" in sizes.stack.services["narrow"].log()


async def test_a_streamed_big_answer_arrives_in_chunks(sizes: Sizes) -> None:
    """Each stream chunk is its own message: only the sum is large."""
    sizes.upstream.set("big", Behavior(text=BIG, chunks=64))
    try:
        stream = await sdk(sizes.url("gw-small")).chat.completions.create(
            model="auto", messages=HELLO, stream=True
        )
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    finally:
        sizes.upstream.set("big", Behavior(text=BIG, chunks=1))
    assert text == BIG


async def test_a_request_over_the_routers_limit_is_a_413(sizes: Sizes) -> None:
    before = len(sizes.upstream.requests)
    prompt = "y" * (MiB + MiB // 2)  # within gw-narrow's 2 MiB body limit, over the router's 1
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk(sizes.url("gw-narrow")).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": prompt}]
        )
    assert caught.value.status_code == 413
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "request_too_large"
    assert caught.value.body["type"] == "invalid_request_error"
    # The key to raise, and the limit it now sets (the configs disagree: the gateway took it).
    assert "router.max_receive_message_bytes" in caught.value.body["message"]
    assert f"{MiB} bytes (1 MiB)" in caught.value.body["message"]
    assert "router.max_receive_message_bytes" in sizes.stack.services["gw-narrow"].log()
    assert len(sizes.upstream.requests) == before


async def test_a_10_mb_prompt_goes_through_every_hop(sizes: Sizes) -> None:
    """Default limits everywhere: gateway body, gateway-to-router message, router receive, the
    request to the upstream; and no model is refused for want of a configured window."""
    prompt = "".join(
        f"line {i}: a long document for a long-context model\n" for i in range(200_000)
    )
    assert len(prompt) > 10_000_000
    answer = await sdk(sizes.url("gw")).chat.completions.create(
        model="small", messages=[{"role": "user", "content": prompt}]
    )
    assert answer.choices[0].message.content == "Hello from small."
    received = sizes.upstream.requests[-1]
    assert received.model == "small"
    assert received.json["messages"] == [{"role": "user", "content": prompt}]


async def test_a_body_over_the_default_limit_is_a_413_naming_the_key(sizes: Sizes) -> None:
    """Refused on its Content-Length, before any byte of it is read."""
    size = 32 * MiB + 1
    reader, writer = await asyncio.open_connection("127.0.0.1", sizes.stack.port("gw"))
    writer.write(
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {size}\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
    error = json.loads(await reader.readexactly(length))["error"]
    writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")
    assert error["code"] == "request_too_large"
    assert error["message"] == (
        f"Request body too large: {size} bytes, more than the limit of 33554432 bytes (32 MiB). "
        "The limit is set by gateway.max_body_bytes (environment variable "
        "LLMROUTER_GATEWAY_MAX_BODY_BYTES)."
    )
