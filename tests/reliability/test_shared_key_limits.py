"""Per-key rate limits through two real gateway processes sharing the machine's Redis: a limit
of N admits N in total, not N per gateway; the next request gets OpenAI's 429 with Retry-After
and x-ratelimit-* headers (read through the official SDK); token reservations are corrected to
the answer's usage; and with Redis cut off every gateway keeps serving its share of each
limit, logged once and counted in /metrics."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import openai
import pytest
import pytest_asyncio
from openai._legacy_response import LegacyAPIResponse
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from tests.tcp_cut import CuttableProxy

from .stack import Stack, gateway_section, metrics_section, router_section, stack

KEYS = {
    "alice": "sk-alice-rl-0123456789",
    "bob": "sk-bob-rl-0123456789",
    "carol": "sk-carol-rl-01",
    "dave": "sk-dave-rl-0123",
    "erin": "sk-erin-rl-0123",
}
LIMITS = {
    "alice": "rpm = 5",
    "bob": "tpm = 1000",
    "carol": "rpm = 4",
    "dave": "tpm = 1000",
    "erin": "rpm = 100",
}
# Each gateway leases 10 % of a limit at a time: erin's 100 rpm in slices of 10; the others'
# limits are too small for a slice beside a request, so they are counted request by request.
LEASE = "rate_limit_lease_percent = 10"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Limited:
    stack: Stack
    redis: CuttableProxy

    def url(self, gateway: int) -> str:
        return f"http://127.0.0.1:{self.stack.port(f'gateway{gateway}')}"

    def client(self, gateway: int, key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.url(gateway)}/v1", api_key=KEYS[key], max_retries=0
        )


def _keys() -> str:
    entries = ", ".join(
        f'{{ id = "{name}", sha256 = "{hashlib.sha256(key.encode()).hexdigest()}", '
        f"{LIMITS[name]} }}"
        for name, key in KEYS.items()
    )
    return f"api_keys = [{entries}]"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def limited(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Limited]:
    tmp = tmp_path_factory.mktemp("limits")
    redis = CuttableProxy("127.0.0.1", 6379)  # the gateways' Redis, which a test cuts off
    await redis.start()
    state = f"""
[state]
backend = "redis"
redis_url = "redis://127.0.0.1:{redis.port}/0"
key_prefix = "llmrouter-test:{uuid.uuid4().hex}:"
"""
    try:
        async with stack(tmp) as s:
            metrics = await s.start("metrics", "metrics", metrics_section(tmp))
            router = await s.start("router", "router", router_section(tmp, "r", metrics.port, ""))
            for n in (1, 2):
                extra = f"rate_limit_replicas = 2\n{LEASE}\n{_keys()}"
                section = gateway_section([router.port], metrics.port, extra) + state
                await s.start(f"gateway{n}", "gateway", section)
            yield Limited(s, redis)
    finally:
        await redis.stop()


Answer = LegacyAPIResponse[ChatCompletion] | openai.APIStatusError


async def _ask(client: openai.AsyncOpenAI, max_tokens: int | None = None) -> Answer:
    """The raw response of one chat completion, or the SDK's error for it."""
    try:
        return await client.chat.completions.with_raw_response.create(
            model="auto",
            messages=HELLO,
            max_tokens=openai.omit if max_tokens is None else max_tokens,
        )
    except openai.APIStatusError as exc:
        return exc


async def test_a_key_limit_of_n_admits_n_across_gateways(limited: Limited) -> None:
    clients = [limited.client(1, "alice"), limited.client(2, "alice")]
    answers = await asyncio.gather(*(_ask(clients[i % 2]) for i in range(12)))
    refused = [a for a in answers if isinstance(a, openai.RateLimitError)]
    assert len(refused) == 7, answers  # 5 served in total, not 5 per gateway
    assert all(not isinstance(a, openai.APIStatusError) or a in refused for a in answers)
    error = refused[0]
    body = error.body
    assert isinstance(body, dict)
    assert body["type"] == "requests"
    assert body["code"] == "rate_limit_exceeded"
    assert (
        "Rate limit reached for API key 'alice' on requests per min (RPM): Limit 5"
        in (body["message"])
    )
    headers = error.response.headers
    assert 1 <= int(headers["retry-after"]) <= 61
    assert headers["x-ratelimit-limit-requests"] == "5"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert "x-request-id" in headers
    # Another key is not limited by alice's use.
    served = await _ask(limited.client(2, "carol"))
    assert not isinstance(served, openai.APIStatusError)


async def test_leasing_gateways_admit_at_most_the_limit_in_total(limited: Limited) -> None:
    clients = [limited.client(1, "erin"), limited.client(2, "erin")]
    answers = [await _ask(clients[i % 2]) for i in range(130)]
    served = [a for a in answers if not isinstance(a, openai.APIStatusError)]
    refused = [a for a in answers if isinstance(a, openai.RateLimitError)]
    assert len(served) + len(refused) == 130
    # Never more than the limit; at most one unspent slice (10) per gateway less.
    assert 100 - 2 * 10 <= len(served) <= 100
    assert all(a.headers["x-ratelimit-limit-requests"] == "100" for a in served)
    assert refused[0].response.headers["x-ratelimit-remaining-requests"] == "0"


async def test_admitted_answers_carry_the_remaining_counts(limited: Limited) -> None:
    first = await _ask(limited.client(1, "carol"))
    second = await _ask(limited.client(2, "carol"))
    assert not isinstance(first, openai.APIStatusError)
    assert not isinstance(second, openai.APIStatusError)
    remaining = [int(r.headers["x-ratelimit-remaining-requests"]) for r in (first, second)]
    assert remaining[1] == remaining[0] - 1
    assert first.headers["x-ratelimit-limit-requests"] == "4"


async def test_token_reservations_are_corrected_to_the_usage(limited: Limited) -> None:
    # 900 completion tokens are reserved, far more than the simulated answer uses.
    first = await _ask(limited.client(1, "bob"), max_tokens=900)
    assert not isinstance(first, openai.APIStatusError), first
    reserved_left = int(first.headers["x-ratelimit-remaining-tokens"])
    assert reserved_left < 100
    usage = first.parse().usage
    assert usage is not None
    # Once corrected, the other gateway admits another such request.
    async with asyncio.timeout(10):
        while True:
            second = await _ask(limited.client(2, "bob"), max_tokens=900)
            if not isinstance(second, openai.RateLimitError):
                break
            await asyncio.sleep(0.05)
    assert not isinstance(second, openai.APIStatusError), second
    # A request larger than the whole limit can never fit: no Retry-After, do not retry.
    too_large = await _ask(limited.client(1, "bob"), max_tokens=2000)
    assert isinstance(too_large, openai.RateLimitError)
    body = too_large.body
    assert isinstance(body, dict)
    assert body["type"] == "tokens"
    assert body["message"].startswith("Request too large for API key 'bob' on tokens per min")
    assert "retry-after" not in too_large.response.headers
    assert too_large.response.headers["x-should-retry"] == "false"
    assert too_large.response.headers["x-ratelimit-limit-tokens"] == "1000"


async def test_a_stream_carries_the_headers_and_its_summary_corrects_the_tokens(
    limited: Limited,
) -> None:
    client = limited.client(1, "dave")
    async with client.chat.completions.with_streaming_response.create(
        model="auto", messages=HELLO, max_tokens=900, stream=True
    ) as streamed:
        assert int(streamed.headers["x-ratelimit-remaining-tokens"]) < 100
        assert streamed.headers["x-ratelimit-limit-tokens"] == "1000"
        async for _ in streamed.iter_lines():
            pass
    # The summary's usage replaced the 900 reserved: the other gateway admits another.
    async with asyncio.timeout(10):
        while True:
            second = await _ask(limited.client(2, "dave"), 900)
            if not isinstance(second, openai.RateLimitError):
                break
            await asyncio.sleep(0.05)
    assert not isinstance(second, openai.APIStatusError), second


async def _fallbacks(url: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{url}/metrics")).text
    line = next(
        x for x in text.splitlines() if x.startswith("llmrouter_gateway_rate_limit_fallbacks_total")
    )
    return float(line.split()[-1])


async def test_without_redis_each_gateway_serves_its_share(limited: Limited) -> None:
    before = [await _fallbacks(limited.url(n)) for n in (1, 2)]
    await limited.redis.cut()
    try:
        # carol: rpm 4 over 2 gateways, so 2 each while they cannot count together.
        # (Earlier tests used some of carol's shared minute: the share is counted anew.)
        for gateway in (1, 2):
            client = limited.client(gateway, "carol")
            answers = [await _ask(client) for _ in range(3)]
            served = [a for a in answers if not isinstance(a, openai.APIStatusError)]
            assert len(served) == 2, answers
            assert isinstance(answers[2], openai.RateLimitError)
            assert answers[2].response.headers["x-ratelimit-limit-requests"] == "2"
        after = [await _fallbacks(limited.url(n)) for n in (1, 2)]
        assert after[0] - before[0] >= 3
        assert after[1] - before[1] >= 3
        for n in (1, 2):
            log = limited.stack.services[f"gateway{n}"].log()
            assert log.count("rate limits: the shared store did not answer") == 1, log
    finally:
        await limited.redis.restore()
