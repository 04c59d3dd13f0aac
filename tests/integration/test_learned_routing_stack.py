"""Learned routing with real processes: the router loads a labelled set in the background
through its simulated embedding model, the ``openai`` SDK's requests with
``llmrouter.min_quality`` go to the cheapest model predicted good enough for their topic,
users' thumbs-down on the cheap model's answers to such prompts (POST /v1/feedback, stored by
the metrics service) move the next such prompt to the strong model, and no prompt (the
requests' or the labelled set's) reaches a log, a span or a database file."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.fakes.otlp import running_receiver
from tests.router_svc.learned_topics import ASK_A, ASK_B, TOPIC_A, write_labelled_set

from .conftest import started, write_config

# In a request's prompt and in one labelled prompt: neither may be written anywhere.
ASKED_CANARY = "zebracanary4d1f"
LABELLED_CANARY = "okapicanary93e2"


def router_config(labelled: Path) -> str:
    models = "".join(
        f"""
[[router.models]]
name = "{name}"
provider = "sim"
input_price_per_million = {price_in}
output_price_per_million = {price_out}
context_window = 100000
quality = {quality}
"""
        for name, price_in, price_out, quality in (
            ("cheap", 0.1, 0.4, 0.5),
            ("strong", 5.0, 20.0, 0.9),
        )
    )
    return f"""default_chain = ["strong", "cheap"]
[router.learned]
embedding_model = "sim-embed"
labelled_set = "{labelled}"
min_similarity = 0.2
shrinkage = 1.0
feedback_poll_interval_s = 0.2
embed_timeout_s = 5.0
[[router.providers]]
name = "sim"
kind = "simulated"
{models}
[[router.models]]
name = "sim-embed"
provider = "sim"
embedding = true
dimensions = 256
input_price_per_million = 0.02
output_price_per_million = 0.0
[[router.categories]]
name = "general"
chain = ["strong", "cheap"]
"""


async def route(http: httpx.AsyncClient, text: str, bound: Any = 0.7) -> httpx.Response:
    body = {
        "model": "general",
        "messages": [{"role": "user", "content": text}],
        "llmrouter": {"min_quality": bound},
    }
    return await http.post("/v1/route", json=body)


def written_with(tmp_path: Path, canaries: tuple[str, ...]) -> list[str]:
    """Files the stack wrote under ``tmp_path`` that hold any of ``canaries`` (the labelled
    set and the config file aside: the test wrote those)."""
    found = []
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name not in {"labelled.jsonl", "llmrouter.toml"}:
            data = path.read_bytes()
            found += [f"{path.name}: {c}" for c in canaries if c.encode() in data]
    return found


async def test_the_learned_router_serves_by_topic_and_keeps_no_prompt(tmp_path: Path) -> None:
    labelled = write_labelled_set(
        tmp_path / "labelled.jsonl",
        (json.dumps({"prompt": f"{LABELLED_CANARY} words", "model": "cheap", "score": 0.5}),),
    )
    config = write_config(tmp_path, router_config(labelled))
    logs = tmp_path / "logs"
    logs.mkdir()
    asked_a = f"{ASK_A} {ASKED_CANARY}"
    async with running_receiver() as receiver:
        env = {
            "LLMROUTER_GATEWAY_AUTH_ENABLED": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        async with (
            started(config, env, logs) as stack,
            httpx.AsyncClient(base_url=stack.url, timeout=10) as http,
        ):
            # The set loads in the background; the router serves meanwhile.
            deadline = time.monotonic() + 30
            while True:
                decision = (await route(http, asked_a)).json()
                if decision["candidates"][0]["quality"]["source"] == "knn":
                    break
                assert time.monotonic() < deadline, decision
                await asyncio.sleep(0.1)
            hard = (await route(http, f"{ASK_B} {ASKED_CANARY}")).json()
            client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="x", max_retries=0)
            easy_reply = await client.chat.completions.create(
                model="general",
                messages=[{"role": "user", "content": asked_a}],
                extra_body={"llmrouter": {"min_quality": 0.7}},
            )
            hard_stream = await client.chat.completions.create(
                model="general",
                messages=[{"role": "user", "content": f"{ASK_B} {ASKED_CANARY}"}],
                extra_body={"llmrouter": {"min_quality": 0.7}},
                stream=True,
            )
            hard_models = {chunk.model async for chunk in hard_stream}
            refused = await route(http, asked_a, bound=1.5)
            refused_sdk = None
            try:
                await client.chat.completions.create(
                    model="general",
                    messages=[{"role": "user", "content": asked_a}],
                    extra_body={"llmrouter": {"min_quality": "high"}},
                )
            except openai.BadRequestError as exc:
                refused_sdk = exc
            # Users of topic-A answers from the cheap model give them a thumbs down ...
            # (all answered before the first score: each thumbs-down moves the next such prompt)
            replies = []
            for prompt in TOPIC_A:
                asked = prompt.replace("into French", "into French please")
                reply = await client.chat.completions.create(
                    model="general",
                    messages=[{"role": "user", "content": asked}],
                    extra_body={"llmrouter": {"min_quality": 0.7}},
                )
                assert reply.model == "cheap"
                replies.append(reply.id)
            for reply_id in replies:
                scored = await http.post("/v1/feedback", json={"id": reply_id, "score": False})
                assert scored.status_code == 200, scored.text
            # ... and the router, following the stored feedback, sends the next one elsewhere.
            async with asyncio.timeout(20):
                while True:
                    flipped = (await route(http, asked_a)).json()
                    if flipped["candidates"][0]["model"] == "strong":
                        break
                    await asyncio.sleep(0.1)
            flipped_reply = await client.chat.completions.create(
                model="general",
                messages=[{"role": "user", "content": asked_a}],
                extra_body={"llmrouter": {"min_quality": 0.7}},
            )
            await receiver.wait_for(
                lambda spans: sum(s.name.startswith("embeddings") for s in spans) >= 3
            )
            # The embed calls are billed in the ledger under their own source.
            async with asyncio.timeout(20):
                while True:
                    costs = await http.get(
                        "/v1/costs", params={"since": "1h", "group_by": "source,model"}
                    )
                    groups = {(g["source"], g["model"]): g for g in costs.json()["groups"]}
                    if ("learned_routing", "sim-embed") in groups:
                        break
                    await asyncio.sleep(0.2)

    assert [c["model"] for c in decision["candidates"]] == ["cheap", "strong"]
    assert decision["min_quality"] == 0.7
    assert decision["predictor_embedding_model"] == "sim-embed"
    assert decision["candidates"][0]["reason"].startswith("cheapest meeting quality >= 0.70")
    assert "neighbours (knn)" in decision["candidates"][0]["reason"]
    assert [c["model"] for c in hard["candidates"]] == ["strong", "cheap"]
    assert hard["candidates"][1]["quality"]["quality"] < 0.7
    assert easy_reply.model == "cheap"
    assert hard_models == {"strong"}
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "llmrouter.min_quality"
    cheap_now = flipped["candidates"][1]
    assert cheap_now["model"] == "cheap"
    assert cheap_now["quality"]["source"] == "knn"
    assert cheap_now["quality"]["quality"] < 0.7
    assert flipped_reply.model == "strong"
    embeds = groups["learned_routing", "sim-embed"]
    assert embeds["requests"] >= 3
    assert embeds["cost_usd"] > 0
    assert refused_sdk is not None
    assert refused_sdk.body["param"] == "llmrouter.min_quality"  # type: ignore[index]

    # Canary: no prompt in any process's output (logs/), the exported spans or any file the
    # stack wrote (the ledger, the outbox, the admin store).
    assert written_with(tmp_path, ("loaded: 33 rows embedded",)) == [
        "router.log: loaded: 33 rows embedded"
    ]
    assert (tmp_path / "metrics.sqlite3").is_file()
    assert (tmp_path / "outbox.sqlite3").is_file()
    assert written_with(tmp_path, (ASKED_CANARY, LABELLED_CANARY, "Translate into French")) == []
    for export in receiver.raw:
        for canary in (ASKED_CANARY, LABELLED_CANARY):
            assert canary.encode() not in export
