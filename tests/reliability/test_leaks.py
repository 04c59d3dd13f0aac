"""Leak canaries: a canary API key, a canary provider key and a canary prompt go through
everything (answers, streams, failover, a continuation refused with a 400 that quotes the
answer so far, upstream errors that echo the prompt or quote the
provider key, refusals, wrong keys, cancellations) and then
are searched for in every process's output, every exported span, every file the services
wrote (ledger, outbox, state) and every error body. They are found nowhere, except the prompt
in spans when content capture is switched on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.fakes import Behavior, running_upstream
from tests.fakes.otlp import running_receiver

from .stack import gateway_section, metrics_section, openai_models, router_section, stack

CANARY_KEY = "sk-canary-key-5f1e0c7a9b3d4e21"
WRONG_KEY = "sk-canary-wrong-key-81c2d4f6a0b9"
PROMPT = "canary-prompt-b7e41d29c3 please keep this to yourself"
# An answer that breaks after its first half (the canary), so a continuation gets it as prefill.
COMPLETION = "canary-completion-4d8f20a6e1"
ANSWER = f"{COMPLETION} and then the second half of this answer, which never arrives"
# The router's key for the upstream: not key-shaped, so only knowing what was sent finds it.
PROVIDER_KEY = "canary/provider+key=6d0a8f2c4e1b9735"
PROVIDER_KEY_ENV = "LLMROUTER_TEST_LEAK_PROVIDER_KEY"
URL_ENCODED_KEY = quote(PROVIDER_KEY, safe="")
JSON_ESCAPED_KEY = json.dumps(PROVIDER_KEY)[1:-1].replace("/", "\\/")
CANARIES = {
    "key": CANARY_KEY.encode(),
    "wrong key": WRONG_KEY.encode(),
    "prompt": PROMPT.encode(),
    "completion": COMPLETION.encode(),
    "provider key": PROVIDER_KEY.encode(),
    "provider key, url-encoded": URL_ENCODED_KEY.encode(),
    "provider key, json-escaped": JSON_ESCAPED_KEY.encode(),
}
# An upstream that quotes the headers it got, three ways (issue 13, item 4).
QUOTES_KEY = (
    f"Unrecognized argument: foo. Authorization: Bearer {PROVIDER_KEY} "
    f"url={URL_ENCODED_KEY} json={JSON_ESCAPED_KEY}"
)


MODELS = ["a", "flaky", "echo", "down", "quote", "sq", "brk"]


def router_body(base_url: str, capture: bool) -> str:
    return f"""capture_content = {"true" if capture else "false"}
default_chain = ["flaky", "a"]
[router.retry]
attempts_per_model = 1
{openai_models("fake", base_url, MODELS, PROVIDER_KEY_ENV)}
[[router.models]]
name = "cont"
provider = "fake"
input_price_per_million = 1.0
output_price_per_million = 2.0
continuation = true
"""


def chat(model: str = "auto", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], **extra}


async def exercise(url: str) -> list[httpx.Response]:
    """Every kind of request the canaries should travel with; returns the error answers."""
    errors: list[httpx.Response] = []
    auth = {"authorization": f"Bearer {CANARY_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as http:
        assert (await http.post("/v1/chat/completions", json=chat())).status_code == 200
        assert (await http.post("/v1/chat/completions", json=chat("a"))).status_code == 200
        async with http.stream(
            "POST",
            "/v1/chat/completions",
            json=chat("a", stream=True, stream_options={"include_usage": True}),
        ) as streamed:
            assert streamed.status_code == 200
            assert [line async for line in streamed.aiter_lines() if line][-1] == "data: [DONE]"
        # A client that leaves mid-stream.
        async with http.stream("POST", "/v1/chat/completions", json=chat("a", stream=True)) as cut:
            await anext(cut.aiter_lines())
        assert (await http.post("/v1/route", json=chat())).status_code == 200
        x_api_key = {"authorization": "", "x-api-key": CANARY_KEY}
        reply = await http.post("/v1/chat/completions", json=chat("a"), headers=x_api_key)
        assert reply.status_code == 200
        # An upstream error event mid-stream that quotes the provider key.
        async with http.stream("POST", "/v1/chat/completions", json=chat("sq", stream=True)) as sq:
            await sq.aread()
        errors.append(sq)
        # A stream that breaks mid-answer; its continuation is refused with a 400 that quotes
        # the answer so far (the prefill): the client keeps what was relayed, and the error.
        async with http.stream(
            "POST", "/v1/chat/completions", json=chat("brk", stream=True, fallbacks=["cont"])
        ) as brk:
            lines = [line async for line in brk.aiter_lines() if line.startswith("data: {")]
        assert COMPLETION in "".join(lines[:-1])  # relayed: it is the answer so far
        assert '"error"' in lines[-1]
        assert "cont" in lines[-1]
        assert COMPLETION not in lines[-1]
        refused = [
            await http.post("/v1/chat/completions", json=chat("quote")),  # upstream quotes key
            await http.post("/v1/chat/completions", json=chat("echo")),  # upstream 400 echoes
            await http.post("/v1/chat/completions", json=chat("down")),  # every attempt fails
            await http.post(
                "/v1/chat/completions",
                json={"model": "a", "messages": [{"role": "tool", "content": PROMPT}]},
            ),
            await http.post("/v1/chat/completions", json=chat("a", temperature=PROMPT)),
            await http.post(
                "/v1/chat/completions",
                json=chat("a"),
                headers={"authorization": f"Bearer {WRONG_KEY}"},
            ),
            await http.post(
                "/v1/chat/completions",
                json=chat("a"),
                headers={"authorization": "", "x-api-key": WRONG_KEY},
            ),
            await http.post("/v1/chat/completions", content=PROMPT.encode()),  # not JSON
        ]
        assert [r.status_code for r in refused] == [400, 400, 503, 400, 400, 401, 401, 400]
        assert "Unrecognized argument: foo" in refused[0].json()["error"]["message"]
        errors += refused
    return errors


def found_in(blob: bytes) -> set[str]:
    return {name for name, canary in CANARIES.items() if canary in blob}


def search_files(root: Path) -> dict[str, set[str]]:
    """The canaries found in each file under ``root``, by file name."""
    return {f.name: found_in(f.read_bytes()) for f in sorted(root.rglob("*")) if f.is_file()}


@pytest.mark.parametrize("capture", [False, True], ids=["capture-off", "capture-on"])
async def test_canaries_leak_nowhere(tmp_path: Path, capture: bool) -> None:
    async with running_upstream() as upstream, running_receiver() as receiver:
        upstream.set("flaky", Behavior(status=503))
        upstream.set("down", Behavior(status=503))
        upstream.set(
            "echo", Behavior(status=400, error_message=f"Invalid message content: '{PROMPT}'")
        )
        upstream.set("quote", Behavior(status=400, error_message=QUOTES_KEY))
        upstream.set("sq", Behavior(stream_error=QUOTES_KEY))
        upstream.set("brk", Behavior(chunks=2, text=ANSWER, cut_after=1))
        upstream.set(
            "cont",
            Behavior(status=400, error_message=f"cannot continue final message '{COMPLETION} '"),
        )
        env = {
            "LLMROUTER_GATEWAY_API_KEYS": f"canary:{CANARY_KEY}",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            PROVIDER_KEY_ENV: PROVIDER_KEY,
        }
        async with stack(tmp_path, env) as s:
            metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
            router = await s.start(
                "router",
                "router",
                router_section(
                    tmp_path, "router", metrics.port, router_body(upstream.base_url, capture)
                ),
            )
            await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))
            errors = await exercise(s.url)
            await receiver.wait_for(
                lambda spans: sum(span.name == "usage.record" for span in spans) >= 8
            )
            await asyncio.sleep(0.5)  # the last outbox batch and spans
        # Every process has exited (spans flushed, databases checkpointed).
        # The prompt and the provider key did go upstream: that is the provider's job.
        assert upstream.requests
        assert upstream.requests[-1].headers["authorization"] == f"Bearer {PROVIDER_KEY}"

    spans = b"".join(receiver.raw)
    assert spans
    where = search_files(tmp_path)
    where["spans"] = found_in(spans)
    where["error bodies"] = found_in(b"".join(r.content for r in errors))
    leaks = {name: found for name, found in where.items() if found}
    if capture:  # the prompt is recorded on attempt spans, and only there
        assert leaks == {"spans": {"prompt"}}
    else:
        assert leaks == {}
    # The files searched: every process's output, the ledger, the outbox and the admin state.
    assert {"gateway.log", "router.log", "metrics.log", "metrics.sqlite3"} <= set(where)
    assert "router-outbox.sqlite3" in where
    print(f"\nleak canaries ({capture=}): searched {len(where)} sources, leaks: {leaks}")
