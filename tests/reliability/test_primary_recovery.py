"""A recovered primary is used again within seconds (issue 15, outlier ejection).

The issue's scenario scaled down through the config, on real processes: the primary answers 503
for DOWN_S seconds, then recovers; one request every INTERVAL_S seconds meanwhile. While it is
down the fallback serves every request and the primary is called only by probes, spaced by
ejections that grow from BASE_S up to MAX_S; once it is up, the primary serves again within the
ejection in force (a few requests), and every request after that.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import httpx

from tests.fakes import Behavior, running_upstream

from .stack import gateway_section, metrics_section, openai_models, router_section, stack

KEY = "sk-reliability-recovery-0123456789"
DOWN_S = 3.0
INTERVAL_S = 0.2
BASE_S = 0.2
MAX_S = 1.0
REQUESTS = 40  # 8 s of traffic: 3 s down, 5 s up


async def test_a_recovered_primary_serves_again_within_a_few_requests(tmp_path: Path) -> None:
    body = f"""default_chain = ["primary", "fallback"]
[router.retry]
attempts_per_model = 2
backoff_base_s = 0.01
backoff_max_s = 0.02
[router.breaker]
base_ejection_s = {BASE_S}
max_ejection_s = {MAX_S}
ejection_decay_s = 5.0
{{models}}"""
    async with running_upstream() as upstream:
        body = body.replace(
            "{models}", openai_models("up", upstream.base_url, ["primary", "fallback"])
        )
        async with stack(tmp_path, {"LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}"}) as s:
            metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
            router = await s.start(
                "router", "router", router_section(tmp_path, "router", metrics.port, body)
            )
            await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))
            served: list[tuple[float, int, str]] = []
            async with httpx.AsyncClient(
                base_url=s.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30
            ) as http:
                upstream.set("primary", Behavior(status=503))
                began = time.monotonic()
                up_at = began + DOWN_S
                for i in range(REQUESTS):
                    sent = time.monotonic()
                    if sent >= up_at:
                        upstream.set("primary")  # healthy again
                    reply = await http.post(
                        "/v1/chat/completions",
                        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
                    )
                    at = sent - began  # when it was sent
                    served.append(
                        (at, reply.status_code, reply.headers.get("x-llmrouter-model", ""))
                    )
                    await asyncio.sleep(max(began + (i + 1) * INTERVAL_S - time.monotonic(), 0))
            probes_while_down = sum(
                1 for r in upstream.requests if r.model == "primary" and r.time < up_at
            )

    assert {status for _, status, _ in served} == {200}
    down = [model for at, _, model in served if at < DOWN_S]
    assert set(down) == {"fallback"}
    first_back = next(i for i, (_, _, model) in enumerate(served) if model == "primary")
    recovered = next(i for i, (at, _, _) in enumerate(served) if at >= DOWN_S)
    # Back within the longest ejection (plus the request that probes), and stays back.
    assert first_back - recovered <= math.ceil(MAX_S / INTERVAL_S) + 1, served
    assert all(model == "primary" for _, _, model in served[first_back:]), served
    # While down, the primary saw its first failures and then one probe per ejection: ejections
    # of BASE_S, 2 x BASE_S, ... capped at MAX_S fit this many times into DOWN_S.
    ejections, spent = 0, 0.0
    while spent < DOWN_S:
        ejections += 1
        spent += min(BASE_S * ejections, MAX_S)
    assert probes_while_down <= 4 + ejections + 1, probes_while_down
    print(
        f"\nprimary recovery: down {DOWN_S} s, a request every {INTERVAL_S} s: primary served "
        f"again {first_back - recovered} requests ({served[first_back][0] - DOWN_S:.2f} s) after "
        f"recovery; {probes_while_down} calls to it while down"
    )
